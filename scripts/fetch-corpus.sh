#!/usr/bin/env bash
# Copied from the design notes (../shared/corpus/fetch.sh) so that CI needs only this repository.
# Real-world Django migrations for testing and benchmarking migrail.
# Downloads pinned, pure-Python wheels of Django apps from PyPI (no dependencies),
# unpacks them into a cache, and lists their migration files. Nothing is stored in git.
#
# usage: fetch.sh [CACHE_DIR]        (default: ${XDG_CACHE_HOME:-$HOME/.cache}/migrail-corpus)
# output: CACHE_DIR/src/<package>-<version>/...   unpacked wheels
#         CACHE_DIR/migrations.txt                every */migrations/[0-9]*.py, relative to CACHE_DIR
# It is idempotent: a second run downloads nothing.
set -euo pipefail
CACHE="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/migrail-corpus}"
PY="${PYTHON:-python3}"
PKGS=(
  Django==5.2.19
  djangorestframework==3.18.3
  django-allauth==65.21.1
  django-celery-beat==2.9.0
  django-celery-results==2.6.0
  django-reversion==6.4.0
  django-guardian==3.5.2
  django-axes==8.3.1
  django-taggit==6.1.0
  django-otp==1.7.5
  django-oauth-toolkit==3.4.1
  django-post-office==3.12.0
  django-auditlog==3.4.1
  easy-thumbnails==2.10.1
)
mkdir -p "$CACHE/wheels" "$CACHE/src"
# One fetch at a time per cache (two unpacking the same wheel collide).
if command -v flock >/dev/null; then exec 9>"$CACHE/.lock" && flock 9; fi
for spec in "${PKGS[@]}"; do
  name="${spec%%==*}"; ver="${spec##*==}"
  dest="$CACHE/src/$name-$ver"
  [ -f "$dest/.unpacked" ] && continue
  norm=$(echo "$name" | tr 'A-Z-' 'a-z_')
  whl=$(ls "$CACHE/wheels" | grep -i "^$norm-$ver-.*\.whl$" | head -1 || true)
  if [ -z "$whl" ]; then
    "$PY" -m pip download --quiet --no-deps --only-binary :all: --dest "$CACHE/wheels" "$spec" >&2
    whl=$(ls "$CACHE/wheels" | grep -i "^$norm-$ver-.*\.whl$" | head -1)
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  "$PY" -m zipfile -e "$CACHE/wheels/$whl" "$dest"
  touch "$dest/.unpacked"
done
(cd "$CACHE" && find src -path '*/migrations/[0-9]*.py' -type f | LC_ALL=C sort) > "$CACHE/migrations.txt"
echo "$(wc -l < "$CACHE/migrations.txt") migration files in $CACHE" >&2
echo "$CACHE"
