#!/usr/bin/env bash
# Build the wheel for one target with maturin (`bindings = "bin"`: the binary, no Python
# code), as .github/workflows/release.yml does (and tests/ship.rs):
#
#   scripts/release/wheel.sh TARGET [OUT_DIR]     (prints the wheel's path)
#
# TARGET is a Rust target triple, or `host`. Environment: MIGRAIL_PROFILE (default
# release), MIGRAIL_WHEEL_ARGS (extra maturin arguments: the workflow passes `--zig
# --compatibility manylinux_2_17` or `musllinux_1_2` for Linux), MATURIN (the maturin to
# run, default `maturin` on PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:?usage: scripts/release/wheel.sh TARGET [OUT_DIR]}"
out="${2:-dist}"
profile="${MIGRAIL_PROFILE:-release}"
maturin="${MATURIN:-maturin}"
host="$(rustc -vV | sed -n 's/^host: //p')"
[ "$target" = host ] && target="$host"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
before="$(ls "$out"/*.whl 2>/dev/null || true)"
args=(build --locked --profile "$profile" --out "$out")
[ "$target" != "$host" ] && args+=(--target "$target")
# shellcheck disable=SC2206 # the extra arguments are words
[ -n "${MIGRAIL_WHEEL_ARGS:-}" ] && args+=(${MIGRAIL_WHEEL_ARGS})
"$maturin" "${args[@]}" >&2
for w in "$out"/*.whl; do
  case "$before" in *"$w"*) ;; *) echo "$w" ;; esac
done
