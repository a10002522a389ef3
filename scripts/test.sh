#!/usr/bin/env bash
# Install what the tests need and run the whole suite (lint, then pytest).
# Uses DATABASE_URL / CELERY_BROKER_URL when set (CI: PostgreSQL and Redis); otherwise the
# embedded default (SQLite and the file-system broker). End-to-end tests start a real worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev,s3
export PYTHONUNBUFFERED=1
.venv/bin/ruff check .
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "models and migrations differ: run manage.py makemigrations" >&2; exit 1; }
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
