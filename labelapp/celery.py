"""The Celery app: `celery -A labelapp worker` reads the same settings as the web server."""

import ctypes
import os
import signal
import sys

from celery import Celery
from celery.signals import worker_init, worker_ready

from labelapp.broker import messages_written_whole

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
# Torch's OpenMP threads spin-wait by default; on a busy machine (web, worker and beat on two
# cores) that made training steps 10-20x slower. Set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The embedded broker's messages appear whole, or a worker could read one half-written and die.
messages_written_whole()

app = Celery("labelapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


@worker_init.connect
def stop_with_parent(**_) -> None:
    """With EARMARK_STOP_WITH_PARENT set to its parent's pid (scripts/run.sh sets it), the
    worker gets a TERM when the process that started it dies, however it dies: run.sh starts
    the worker in a session of its own (so a TERM to run.sh's group does not reach the
    worker's pool processes), and this keeps a worker from outliving a run.sh that was killed
    outright. Linux only."""
    parent = os.environ.get("EARMARK_STOP_WITH_PARENT", "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # The variable holds the starting process's pid: if it is no longer the parent, it died
    # before the line above (while the worker imported), and nobody would send the TERM.
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)


@worker_ready.connect
def fail_what_this_node_was_running(sender=None, **_) -> None:
    """What this node ran when its last process died cannot be running now: failed at once
    (`ml_backend.training.runs_of_restarted_worker_fail`)."""
    from ml_backend.training import runs_of_restarted_worker_fail

    runs_of_restarted_worker_fail(getattr(sender, "hostname", "") or "")


@worker_ready.connect
def say_the_worker_is_up(**_) -> None:
    """`/healthz?deep=1` sees a worker from its start; beat's sweep keeps it seen."""
    from labelapp.services.health import worker_seen

    worker_seen()
