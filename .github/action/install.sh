#!/usr/bin/env bash
# Install migrail for the GitHub Action.
#
# At a release tag (`uses: migrail/migrail@v0`, `@v0.2.0`: the release workflow points them
# at the commit that adds the release's lines to checksums.txt), the release archive for
# this runner is downloaded, checked against the SHA-256 this repository carries in
# checksums.txt — never against anything downloaded — and kept in the tool cache. Anywhere
# else (a branch, a commit, a fork, a platform with no release binary) migrail is built from
# the action's own source with `cargo install --locked`, which takes minutes; the output
# says so and why.
#
# The pre-commit hook (scripts/pre-commit-hook.sh) installs through here too, with
# MIGRAIL_INSTALL_MODE=hook: the release binary of the hook's own version when its
# checksums.txt lists it, else a lint-only build from source (`--no-default-features
# --features lint`: no AWS SDK, no octocrab), kept per commit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
own="v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
version="${MIGRAIL_VERSION:-}"
explicit="$version"
mode="${MIGRAIL_INSTALL_MODE:-action}"
if [ -z "$version" ]; then
  case "${ACTION_REF:-}" in
    v[0-9]*) version="$own" ;;
  esac
  # A hook's checkout is the release commit when its table lists its own version.
  [ "$mode" = hook ] && version="$own"
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  *) target="" ;;
esac
# Which target to fetch may be forced (the release dry run installs this machine's build).
target="${MIGRAIL_TARGET:-$target}"

# Where releases are downloaded from, and the table of their SHA-256 (overridable for a
# mirror, and for the release dry run).
download_base="${MIGRAIL_DOWNLOAD_BASE:-https://github.com/migrail/migrail/releases/download}"
checksums="${MIGRAIL_CHECKSUMS:-$here/checksums.txt}"
asset="migrail-${version}-${target}.tar.gz"
sha=""
if [ -n "$version" ] && [ -n "$target" ]; then
  sha="$(awk -v a="$asset" '$2 == a { print $1 }' "$checksums")"
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{ print $1 }'
  else
    shasum -a 256 "$1" | awk '{ print $1 }'
  fi
}

if [ -n "$sha" ]; then
  cache="${RUNNER_TOOL_CACHE:-$HOME/.cache}/migrail/${version#v}/${target}"
  if [ -x "$cache/migrail" ] && [ -f "$cache.complete" ] && [ "$(cat "$cache.complete")" = "$sha" ]; then
    echo "migrail: using ${version} (${target}) from the tool cache: $cache"
  else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    url="${download_base}/${version}/${asset}"
    echo "migrail: downloading $url"
    curl --fail --location --silent --show-error --retry 3 -o "$tmp/$asset" "$url"
    got="$(sha256 "$tmp/$asset")"
    if [ "$got" != "$sha" ]; then
      echo "::error title=migrail::$asset does not match its SHA-256 in checksums.txt (expected $sha, got $got): refusing to install it" >&2
      exit 1
    fi
    rm -rf "$cache"
    mkdir -p "$cache"
    tar -xzf "$tmp/$asset" -C "$cache" migrail
    echo "$sha" > "$cache.complete"
    echo "migrail: installed ${version} (${target}), SHA-256 $sha verified"
  fi
  echo "$cache" >> "$GITHUB_PATH"
elif [ -n "$explicit" ] && [ -n "$target" ]; then
  echo "::error title=migrail::no SHA-256 for $asset in this action's checksums.txt: use the action at that release (uses: migrail/migrail@${explicit}), or leave \`version\` empty" >&2
  exit 1
elif [ "$mode" = hook ]; then
  commit="$(git -C "$root" rev-parse "HEAD^{tree}" 2>/dev/null || echo "$own")"
  dest="${RUNNER_TOOL_CACHE:-$HOME/.cache}/migrail/source-${commit}"
  if [ ! -x "$dest/bin/migrail" ]; then
    echo "migrail: no release binary of $version for ${target:-this platform}: building a lint-only migrail from source (\`--no-default-features --features lint\`, a minute or two, once per version)" >&2
    cargo install --locked --quiet --profile hook --path "$root" --root "$dest" --no-default-features --features lint
  fi
  echo "$dest/bin" >> "$GITHUB_PATH"
else
  why="no release tag"
  [ -n "${ACTION_REF:-}" ] && why="the action's ref ${ACTION_REF} is not a release tag"
  [ -n "$version" ] && why="no release binary of $version for ${target:-$(uname -s)-$(uname -m)}"
  echo "migrail: ${why}: building migrail from the action's source with \`cargo install --locked\` (about 10 minutes on a 2-core runner). Pin a release tag (uses: migrail/migrail@v0) to install the release binary in seconds."
  cargo install --locked --quiet --path "$root" --root "$HOME/.migrail"
  echo "$HOME/.migrail/bin" >> "$GITHUB_PATH"
fi
