#!/usr/bin/env bash
# Write DIR/SHA256SUMS for the release archives in DIR (`sha256  name`, one per line, as
# `sha256sum --check` reads it), as .github/workflows/release.yml does:
#
#   scripts/release/checksums.sh DIR
set -euo pipefail
dir="${1:?usage: scripts/release/checksums.sh DIR}"
cd "$dir"
shopt -s nullglob
files=(migrail-v*.tar.gz migrail-v*.zip)
[ "${#files[@]}" -gt 0 ] || { echo "checksums.sh: no migrail-v*.tar.gz or .zip in $dir" >&2; exit 1; }
if command -v sha256sum >/dev/null 2>&1; then
  sha256sum "${files[@]}" > SHA256SUMS
else
  shasum -a 256 "${files[@]}" > SHA256SUMS
fi
cat SHA256SUMS
