#!/usr/bin/env bash
# pre-commit's `migrail-lint` hook (`language: script`, .pre-commit-hooks.yaml): run
# migrail with the hook's arguments. The binary is the release archive of the hook's own
# version, checked against the SHA-256 in .github/action/checksums.txt (as the GitHub
# Action installs it), or, when the hook's revision has no release binary for this machine,
# a lint-only build from source (no AWS SDK, no octocrab: a minute or two, once per
# revision). Both are cached under $MIGRAIL_CACHE (default ~/.cache/migrail).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
found="$(mktemp)"
trap 'rm -f "$found"' EXIT
MIGRAIL_INSTALL_MODE=hook \
  RUNNER_TOOL_CACHE="${MIGRAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}" \
  GITHUB_PATH="$found" \
  "$repo/.github/action/install.sh" >&2
bin="$(tail -n 1 "$found")"
exec "$bin/migrail" "$@"
