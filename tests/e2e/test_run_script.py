"""The README's first command, `make run` (scripts/run.sh), as a new user runs it: on the
embedded default (SQLite, file-system broker) in a data folder of its own, it serves the app and
a real worker and beat; Ctrl-C stops them all, and a worker that dies is reported and stops the
rest instead of leaving a web app whose uploads are never processed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import wait_for
from tests.faults._procs import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# What CI and the other tests set that would take the app off its embedded default.
NOT_INHERITED = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "CELERY_QUEUE",
    "CELERY_TASK_ALWAYS_EAGER",
    "EARMARK_CACHE_DIR",
    "AWS_STORAGE_BUCKET_NAME",
    "SQLITE_TEST_NAME",
}


def _start(var_dir: Path, port: int, *, sigint_ignored: bool = False) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        EARMARK_VAR_DIR=str(var_dir),
        PORT=str(port),
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
        EARMARK_STOP_GRACE_S="10",
    )
    return subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # As from a terminal: a shell started with SIGINT ignored (pytest run in the background,
        # as CI may be) can never trap it, and Ctrl-C would not reach run.sh's trap.
        # `sigint_ignored`: started as a background job of a script, where POSIX has SIGINT
        # ignored and no trap of run.sh can see a Ctrl-C sent to the group.
        preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL
        ),
    )


def _wait_up(proc: subprocess.Popen, var_dir: Path, port: int, timeout: float = 240) -> None:
    """Until the login page answers, the worker's log says it is ready and the beat's that it
    started. (A beat started in the background inherits an ignored SIGINT until it installs
    its own handlers: a Ctrl-C sent before that, under CI's load, stopped nothing, and a test
    waited out its 60 s.)"""
    log = var_dir / "log" / "worker.log"
    beat = var_dir / "log" / "beat.log"

    def up() -> bool:
        assert proc.poll() is None, f"run.sh exited early:\n{proc.stdout.read()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as r:
                served = r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            served = False
        return (
            served
            and log.exists()
            and " ready." in log.read_text(errors="replace")
            and beat.exists()
            and "beat: Starting" in beat.read_text(errors="replace")
        )

    wait_for(
        up,
        timeout=timeout,
        interval=1.0,
        message=f"the app or its worker did not come up within {timeout:.0f} s",
    )


def _children(proc: subprocess.Popen) -> dict[str, psutil.Process]:
    """run.sh's worker, beat and web server, by what they run."""
    found = {}
    for child in psutil.Process(proc.pid).children():
        try:
            cmd = " ".join(child.cmdline())
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # a short-lived helper of run.sh's, gone or not yet reaped
        if "celery" in cmd and " worker" in cmd:
            found["worker"] = child
        elif "celery" in cmd and " beat" in cmd:
            found["beat"] = child
        elif "runserver" in cmd:
            found["server"] = child
    return found


def _assert_all_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=15)
    assert not alive, f"outlived run.sh: {[' '.join(p.cmdline()) for p in alive]}"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def run_script(tmp_path):
    started: list[subprocess.Popen] = []

    def start(port: int, **kw) -> subprocess.Popen:
        proc = _start(tmp_path / "var", port, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        # the whole session, and the worker's own: a killed worker's pool processes outlive it
        # for a moment
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_run_serves_app_and_worker_and_stops_both(run_script, tmp_path):
    port = free_port()
    proc = run_script(port)
    _wait_up(proc, tmp_path / "var", port)
    assert set(_children(proc)) == {"worker", "beat", "server"}
    every = psutil.Process(proc.pid).children(recursive=True)  # the worker's pool too
    # The demo project and accounts exist on the app's own database in the data folder.
    assert (tmp_path / "var" / "earmark.sqlite3").stat().st_size > 0

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    assert proc.wait(60) == 0
    _assert_all_gone(every)
    assert not _port_open(port)


def test_a_term_relayed_by_make_does_not_cut_the_stop_short(run_script, tmp_path):
    """`make run` stopped with TERM (a process manager, `kill` of its group): make sends its
    child the TERM once more. The script must still see its stop through (grace, cold stop,
    kill), not die and leave the worker behind."""
    port = free_port()
    proc = run_script(port)
    _wait_up(proc, tmp_path / "var", port)
    every = psutil.Process(proc.pid).children(recursive=True)

    os.killpg(proc.pid, signal.SIGTERM)
    time.sleep(0.5)  # the script is stopping its processes now
    proc.send_signal(signal.SIGTERM)  # make's relay
    assert proc.wait(60) == 0
    _assert_all_gone(every)
    assert not _port_open(port)


def test_a_term_to_the_whole_group_after_work_stops_the_worker_warm(run_script, tmp_path):
    """A TERM to the script's group once the worker has run tasks (the demo's clips): the
    worker, in a session of its own, gets its TERM from the script only, and its warm shutdown
    ends by itself. (Sharing the group, its pool processes died of the TERM under it and the
    warm shutdown hung until the script's cold stop.)"""
    port = free_port()
    proc = run_script(port)
    var = tmp_path / "var"
    _wait_up(proc, var, port)
    log = var / "log" / "worker.log"
    wait_for(
        lambda: " succeeded in " in log.read_text(errors="replace"),
        timeout=120,
        message="the worker ran no task",
    )
    worker = _children(proc)["worker"]
    assert os.getpgid(worker.pid) != os.getpgid(proc.pid)
    every = psutil.Process(proc.pid).children(recursive=True) + worker.children(recursive=True)

    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == 0
    out = proc.stdout.read()
    assert "stopping cold" not in out, out
    _assert_all_gone(every)
    assert not _port_open(port)


def test_a_second_ctrl_c_stops_the_worker_cold_and_leaves_nothing(run_script, tmp_path):
    """The worker, in a session of its own, does not hear the terminal's Ctrl-C: the second
    one reaches the script, which stops it cold (QUIT) and exits 130."""
    port = free_port()
    proc = run_script(port)
    _wait_up(proc, tmp_path / "var", port)
    worker = _children(proc)["worker"]
    every = psutil.Process(proc.pid).children(recursive=True) + worker.children(recursive=True)

    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1.5)  # the script is in its stop, the worker in its warm shutdown
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 130
    _assert_all_gone(every)
    assert not _port_open(port)


def test_a_ctrl_c_the_script_cannot_trap_stops_everything_without_a_crash_report(
    run_script, tmp_path
):
    """Started in the background (SIGINT ignored: no trap of run.sh runs), a Ctrl-C to the
    group stopped the beat, which was reported as a crash with its log and `make: *** Error
    1` (a new user). A beat or server that was asked to stop (exit status 0) stops the rest
    quietly."""
    port = free_port()
    proc = run_script(port, sigint_ignored=True)
    _wait_up(proc, tmp_path / "var", port)
    worker = _children(proc)["worker"]
    every = psutil.Process(proc.pid).children(recursive=True) + worker.children(recursive=True)

    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 0
    out = proc.stdout.read()
    assert "was stopped; stopping the rest." in out and "exit status" not in out, out
    _assert_all_gone(every)
    assert not _port_open(port)


def test_a_worker_outlives_no_killed_script(run_script, tmp_path):
    """The script killed outright (no trap runs): its worker, in a session of its own, is
    told by the kernel that its parent died and stops."""
    port = free_port()
    proc = run_script(port)
    _wait_up(proc, tmp_path / "var", port)
    worker = _children(proc)["worker"]
    pool = worker.children(recursive=True)

    proc.kill()
    proc.wait(10)
    _assert_all_gone([worker, *pool])


def test_a_worker_that_dies_is_reported_and_stops_the_server(run_script, tmp_path):
    port = free_port()
    proc = run_script(port)
    _wait_up(proc, tmp_path / "var", port)
    children = _children(proc)
    every = psutil.Process(proc.pid).children(recursive=True)
    children["worker"].kill()  # as the kernel's out-of-memory killer would

    assert proc.wait(60) == 1
    out = proc.stdout.read()
    assert "The Celery worker stopped (exit status 137)" in out
    last = (tmp_path / "var" / "log" / "worker.log").read_text().strip().splitlines()[-1]
    assert last in out  # with the log's last lines
    _assert_all_gone([p for p in every if p.pid != children["worker"].pid])
    assert not _port_open(port)
