#!/usr/bin/env bash
# Set up and run Earmark on the embedded default: SQLite, a file-system broker, a real Celery
# worker (with beat) and the web server, plus demo accounts and a demo project.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PYTHONUNBUFFERED=1
PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py setup_demo
mkdir -p var/log
.venv/bin/celery -A labelapp worker -B -s var/celerybeat-schedule --loglevel INFO \
  --concurrency "${WORKER_CONCURRENCY:-2}" >var/log/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
echo "celery worker started (pid $WORKER, log var/log/worker.log)"
echo "Earmark is at http://$HOST:$PORT/  (Ctrl-C stops the server and the worker)"
.venv/bin/python manage.py runserver "$HOST:$PORT" --noreload
