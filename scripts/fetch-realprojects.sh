#!/usr/bin/env bash
# Copied from the design notes (../shared/realprojects/fetch.sh) so that CI needs only this repository.
# Real Django *applications* (not reusable apps) published on PyPI, with their migrations:
# pinned wheels, downloaded without dependencies and unpacked. About 1,400 migration files:
# squashes kept beside the migrations they replace, AppConfigs outside apps.py, RunSQL,
# GeneratedField-era and Django 1.x-era files.
#
# Usage: scripts/fetch-realprojects.sh [CACHE_DIR]   (default /tmp/migrail-realprojects; $PYTHON: the python with pip)
# Prints the folder that holds one unpacked application per subfolder: lint each with
#   (cd DIR/<app> && migrail lint --all .)
set -euo pipefail
CACHE="${1:-/tmp/migrail-realprojects}"
mkdir -p "$CACHE/wheels" "$CACHE/src"
# One fetch at a time per cache (two unpacking the same wheel collide).
if command -v flock >/dev/null; then exec 9>"$CACHE/.lock" && flock 9; fi
PKGS=(
  geonode==5.1.1          # 393 migration files
  tendenci==16.30         # 459
  arches==8.1.5           # 282
  evennia==5.0.1          # 90
  wger==2.1               # 81
  pulp-rpm==3.39.4        # 76
  django-helpdesk==2.6.1  # 43
)
for spec in "${PKGS[@]}"; do
  name="${spec%%==*}"; ver="${spec##*==}"
  norm="$(echo "$name" | tr '-' '_')"
  dir="$CACHE/src/$norm-$ver"
  [ -f "$dir/.unpacked" ] && continue
  ls "$CACHE/wheels/$norm-$ver-"*.whl >/dev/null 2>&1 || \
    "${PYTHON:-python3}" -m pip download -q --no-deps --only-binary=:all: -d "$CACHE/wheels" "$spec" >/dev/null
  rm -rf "$dir"; mkdir -p "$dir"
  "${PYTHON:-python3}" -m zipfile -e "$(ls "$CACHE/wheels/$norm-$ver-"*.whl | head -n 1)" "$dir"
  touch "$dir/.unpacked"
done
echo "$CACHE/src"
