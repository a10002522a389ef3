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
if [ "${EARMARK_TEST_SHARDS:-1}" = 2 ] && [ "$#" -eq 0 ]; then
  # Two pytest runs at once (CI: PostgreSQL and Redis): the browser tests, which mostly wait
  # on Chromium and the live server, beside the rest, each on a test database, Redis
  # databases and worker queues of its own. One run took 19 of the 20 minutes CI may take.
  log="$(mktemp -t earmark-browser-tests.XXXXXX)"
  (
    export DATABASE_URL="${DATABASE_URL}_browser"
    export CELERY_BROKER_URL="${EARMARK_SHARD_BROKER_URL:?the browser shard's broker}"
    export REDIS_URL="${EARMARK_SHARD_REDIS_URL:?the browser shard's cache}"
    exec .venv/bin/python -m pytest -m browser
  ) >"$log" 2>&1 &
  browser=$!
  .venv/bin/python -m pytest -m "not browser"
  rc=$?
  wait "$browser"
  rc_browser=$?
  echo "===== browser tests (run beside the others) ====="
  cat "$log"
  rm -f "$log"
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ]; then rc="$rc_browser"; fi
else
  .venv/bin/python -m pytest "$@"
  rc=$?
fi
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
