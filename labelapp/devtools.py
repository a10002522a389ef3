"""Starting a real Celery worker as a child process, for the end-to-end tests, the fault tests
and the benchmarks (one launcher, so they all run the worker the way production does)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def celery_worker_start(
    *,
    queue: str,
    env: dict[str, str],
    log_path: Path,
    concurrency: int = 1,
    nice: int = 0,
    idle: bool = False,
    ready_timeout: float = 90.0,
) -> subprocess.Popen:
    """`celery -A labelapp worker` on `queue` with `env`, its output in `log_path`; returns once
    the worker says it is ready. RuntimeError (with the log's tail) when it does not start.
    A positive `nice` lets the web server and the database take the CPU first; `idle` runs
    it under SCHED_IDLE (`chrt --idle 0`): only on CPU time nothing else wants."""

    def lower_priority() -> None:
        if nice:
            os.nice(nice)
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "labelapp", "worker", "-Q", queue]
            + ["--concurrency", str(concurrency), "--loglevel", "INFO"]
            + ["--without-gossip", "--without-mingle", "-n", f"{queue}@%h"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lower_priority if nice or idle else None,  # noqa: PLW1509
        )
    deadline = time.monotonic() + ready_timeout
    while " ready." not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(
                "the Celery worker did not start:\n" + log_path.read_text(errors="replace")[-4000:]
            )
        time.sleep(0.2)
    proc.log_path = log_path
    return proc


def process_stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM (a worker finishes its task first), then SIGKILL after `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
