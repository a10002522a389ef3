#!/usr/bin/env bash
# Set up and run Earmark on the embedded default: SQLite, a file-system broker, a real Celery
# worker, Celery beat and the web server, plus demo accounts and a demo project.
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
WORKER= BEAT= SERVER=
GRACE="${EARMARK_STOP_GRACE_S:-30}"
stop() {
  # A second Ctrl-C stops the script at once; a second TERM is ignored: `make run` relays the
  # TERM it gets to this script, and dying here would leave a worker whose warm shutdown hangs.
  # The worker, in its own session, hears no Ctrl-C: a second one stops it cold from here.
  trap - EXIT
  trap '[ -n "$WORKER" ] && kill -QUIT "$WORKER" 2>/dev/null; exit 130' INT
  trap '' TERM
  local pids="$WORKER $BEAT $SERVER" waited=0 p alive
  if [ -z "${pids// /}" ]; then return; fi
  if [ -n "$WORKER" ]; then
    echo "stopping; the worker finishes any task it is running (up to ${GRACE} s; Ctrl-C again: now)" >&2
  fi
  kill $pids 2>/dev/null || true
  # A warm shutdown can hang (the file-system broker's consumer, seen in CI): after the grace
  # period the worker is stopped cold (its task's message goes back to the queue), then killed.
  while :; do
    alive=
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    if [ -z "$alive" ] || [ "$waited" -ge "$((GRACE + 5))" ]; then break; fi
    if [ "$waited" -eq "$GRACE" ]; then
      echo "still running after ${GRACE} s: stopping cold" >&2
      kill -QUIT $alive 2>/dev/null || true
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if [ -n "$alive" ]; then kill -KILL $alive 2>/dev/null || true; fi
  wait $pids 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM
# The worker runs in a session of its own. A TERM sent to this script's whole group (a process
# manager, `kill -- -PGID`) would otherwise reach the worker's pool processes too, and a pool
# whose processes die under it leaves the worker's warm shutdown hanging (until the cold stop
# below). stop() sends the worker its TERM; EARMARK_STOP_WITH_PARENT has it stop by itself
# should this script be killed outright (labelapp/celery.py). A terminal's Ctrl-C reaches
# this script only, whose stop() then stops the worker as for a TERM.
SETSID="$(command -v setsid || true)"  # util-linux; without it the worker shares the group
EARMARK_STOP_WITH_PARENT=$$ $SETSID .venv/bin/celery -A labelapp worker --loglevel INFO \
  --concurrency "${WORKER_CONCURRENCY:-2}" >"$VAR/log/worker.log" 2>&1 &
WORKER=$!
# The sweeps that re-send lost work: a process of its own (not the worker's -B), so that it is
# stopped with the rest whatever happens to the worker.
.venv/bin/celery -A labelapp beat -s "$VAR/celerybeat-schedule" --loglevel INFO \
  >"$VAR/log/beat.log" 2>&1 &
BEAT=$!
echo "celery worker started (pid $WORKER, log $VAR/log/worker.log; beat: $VAR/log/beat.log)"
echo "Earmark is at http://$HOST:$PORT/  (Ctrl-C stops the server and the worker)"
.venv/bin/python manage.py runserver "$HOST:$PORT" --noreload <&0 &  # stdin kept: breakpoint()
SERVER=$!

# Watch all three: a web server without its worker accepts uploads that never get processed,
# so whichever stops is reported (with its log's last lines) and the others are stopped too.
stopped() {  # what, pid, log file (or nothing)
  wait "$2" && code=0 || code=$?
  if [ "$code" -eq 0 ]; then
    # Asked to stop: a Ctrl-C reaches the beat and the web server too, and where this script
    # was started in the background its own INT is ignored (POSIX), so no trap tells it.
    echo "The $1 was stopped; stopping the rest." >&2
    exit 0
  fi
  echo "The $1 stopped (exit status $code)${3:+; the last lines of $3:}" >&2
  if [ -n "${3:-}" ]; then tail -n 20 "$3" >&2; fi
  exit 1
}
while kill -0 "$WORKER" 2>/dev/null && kill -0 "$BEAT" 2>/dev/null \
  && kill -0 "$SERVER" 2>/dev/null; do
  sleep 1
done
if ! kill -0 "$WORKER" 2>/dev/null; then
  pid=$WORKER; WORKER=
  stopped "Celery worker" "$pid" "$VAR/log/worker.log"
elif ! kill -0 "$BEAT" 2>/dev/null; then
  pid=$BEAT; BEAT=
  stopped "Celery beat" "$pid" "$VAR/log/beat.log"
fi
pid=$SERVER; SERVER=
stopped "web server" "$pid"
