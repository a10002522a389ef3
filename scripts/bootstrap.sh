#!/usr/bin/env bash
# Create .venv with Python 3.11 and install Earmark (plus extras given as $1, e.g. "dev").
# Idempotent: skips pip when pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Earmark needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
mkdir -p var
hash="$(sha256sum pyproject.toml | cut -c1-16)"
stamp="var/.installed-$hash-${extras:-base}"
# Any install of this pyproject.toml holds the base requirements: the app's own run needs no
# pip when the tests' install ("dev") is in place.
if [ -z "$extras" ]; then
  for other in var/.installed-"$hash"-*; do
    if [ -f "$other" ]; then stamp="$other"; break; fi
  done
fi
if [ ! -f "$stamp" ]; then
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  echo "installing Earmark${extras:+ with $extras} into .venv (first run downloads torch: a few minutes)..."
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -e "$spec" | grep -v "^Requirement already satisfied"
  rm -f var/.installed-*-"${extras:-base}"
  touch "$stamp"
fi
