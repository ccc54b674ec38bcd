#!/usr/bin/env bash
# Build migrail for one target and package it, as .github/workflows/release.yml does (and
# the release dry run in tests/ship.rs):
#
#   scripts/release/build.sh TARGET [OUT_DIR]     (prints the archive's path)
#
# TARGET is a Rust target triple, or `host`. The archive is
# OUT_DIR/migrail-vVERSION-TARGET.tar.gz (`.zip` for Windows) holding the binary, README.md
# and LICENSE at its root. Environment: MIGRAIL_PROFILE (cargo profile, default release),
# MIGRAIL_CARGO_BUILD (the cargo subcommand, default `build`; the workflow uses `zigbuild`
# for Linux cross builds), CARGO_TARGET_DIR (as cargo reads it).
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:?usage: scripts/release/build.sh TARGET [OUT_DIR]}"
out="${2:-dist}"
profile="${MIGRAIL_PROFILE:-release}"
subcommand="${MIGRAIL_CARGO_BUILD:-build}"
version="v$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
host="$(rustc -vV | sed -n 's/^host: //p')"
[ "$target" = host ] && target="$host"
root="${CARGO_TARGET_DIR:-target}"
profile_dir="$profile"
[ "$profile" = dev ] && profile_dir=debug

args=("$subcommand" --locked --profile "$profile" --bin migrail)
if [ "$target" = "$host" ] && [ "$subcommand" = build ]; then
  dir="$root/$profile_dir"
else
  args+=(--target "$target")
  dir="$root/$target/$profile_dir"
fi
cargo "${args[@]}" >&2

exe=migrail
case "$target" in *windows*) exe=migrail.exe ;; esac
[ -f "$dir/$exe" ] || { echo "build.sh: $dir/$exe was not built" >&2; exit 1; }

name="migrail-${version}-${target}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$dir/$exe" README.md LICENSE "$stage/"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
case "$target" in
  *windows*)
    archive="$out/$name.zip"
    rm -f "$archive"
    (cd "$stage" && 7z a -tzip -bd "$archive" "$exe" README.md LICENSE >&2)
    ;;
  *)
    archive="$out/$name.tar.gz"
    tar -czf "$archive" -C "$stage" "$exe" README.md LICENSE
    ;;
esac
echo "$archive"
