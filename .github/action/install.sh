#!/usr/bin/env bash
# Install migrail for the GitHub Action: a pinned release binary for this runner, checked
# against the SHA-256 in checksums.txt and kept in the tool cache; when the version has no
# release binary for this platform, `cargo install --locked` of the action's own source.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${MIGRAIL_VERSION:-}"
if [ -z "$version" ]; then
  case "${ACTION_REF:-}" in v[0-9]*) version="$ACTION_REF" ;; esac
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux-aarch64) target=aarch64-unknown-linux-gnu ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  *) target="" ;;
esac

# Where releases are downloaded from, and the table of their SHA-256 (overridable for a
# mirror, and for this script's tests).
download_base="${MIGRAIL_DOWNLOAD_BASE:-https://github.com/migrail/migrail/releases/download}"
checksums="${MIGRAIL_CHECKSUMS:-$here/checksums.txt}"
asset="migrail-${version}-${target}.tar.gz"
sha=""
if [ -n "$version" ] && [ -n "$target" ]; then
  sha="$(awk -v a="$asset" '$2 == a { print $1 }' "$checksums")"
fi

if [ -n "$sha" ]; then
  cache="${RUNNER_TOOL_CACHE:-$HOME/.cache}/migrail/${version#v}/${target}"
  if [ ! -x "$cache/migrail" ]; then
    tmp="$(mktemp -d)"
    url="${download_base}/${version}/${asset}"
    echo "migrail: downloading $url"
    curl --fail --location --silent --show-error --retry 3 -o "$tmp/$asset" "$url"
    echo "$sha  $tmp/$asset" | sha256sum --check --status || {
      echo "::error title=migrail::$asset does not match its SHA-256 in checksums.txt" >&2
      exit 1
    }
    mkdir -p "$cache"
    tar -xzf "$tmp/$asset" -C "$cache" migrail
    touch "$cache/../${target}.complete"
  fi
  echo "$cache" >> "$GITHUB_PATH"
else
  echo "migrail: no release binary for ${version:-this commit} on ${target:-this platform}: building from source"
  cargo install --locked --quiet --path "$root" --root "$HOME/.migrail"
  echo "$HOME/.migrail/bin" >> "$GITHUB_PATH"
fi
