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
VAR="${EARMARK_VAR_DIR:-var}"
mkdir -p "$VAR/log"
.venv/bin/celery -A labelapp worker -B -s "$VAR/celerybeat-schedule" --loglevel INFO \
  --concurrency "${WORKER_CONCURRENCY:-2}" >"$VAR/log/worker.log" 2>&1 &
WORKER=$!
SERVER=
stop() {
  kill $WORKER $SERVER 2>/dev/null || true
  wait $WORKER $SERVER 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM
echo "celery worker started (pid $WORKER, log $VAR/log/worker.log)"
echo "Earmark is at http://$HOST:$PORT/  (Ctrl-C stops the server and the worker)"
.venv/bin/python manage.py runserver "$HOST:$PORT" --noreload &
SERVER=$!
# Watch both: a web server without its worker accepts uploads that never get processed, so a
# worker that stops is reported (with its log's last lines) and the server is stopped too.
while kill -0 "$WORKER" 2>/dev/null && kill -0 "$SERVER" 2>/dev/null; do
  sleep 1
done
if ! kill -0 "$WORKER" 2>/dev/null; then
  wait "$WORKER" && code=0 || code=$?
  echo "The Celery worker stopped (exit status $code); the last lines of $VAR/log/worker.log:" >&2
  tail -n 20 "$VAR/log/worker.log" >&2
  exit 1
fi
wait "$SERVER" && code=0 || code=$?
echo "The web server stopped (exit status $code)." >&2
exit 1
