"""Private servers and app processes for fault tests.

The machine's own PostgreSQL and Redis serve other people's tests, so a fault test never
stops them: it starts a Redis or a PostgreSQL of its own on a free port, points an app
server or worker subprocess at it, and breaks that one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("EARMARK_PG_BIN", "/usr/lib/postgresql/15/bin"))
FULL = os.environ.get("FULL", "") not in ("", "0", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, *, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            is_up = s.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return
        time.sleep(0.1)
    pytest.fail(f"port {port} did not come {'up' if up else 'down'} within {timeout} s")


class PrivateRedis:
    """`redis-server` on a free port, without persistence; stop() and start() at will."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        wait_port(self.port, up=False)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port. As root, the server runs as
    the `postgres` user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (EARMARK_PG_BIN)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="earmark-fault-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(self.dir, user="postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run(
            [str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres"]
            + [
                "--auth=trust",
                "--no-sync",
            ]
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.fail(f"{cmd[0]} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts]
            + ["-l", str(self.dir / "log"), "-w", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        with suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def app_env(**overrides: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"})
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextmanager
def app_server(env: dict[str, str], log_path: Path):
    """`manage.py runserver` (no reloader, threaded) on a free port; yields its base URL."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("the app server exited:\n" + log_path.read_text()[-4000:])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("the app server did not answer:\n" + log_path.read_text()[-4000:])
                time.sleep(0.2)
        proc.base_url = f"http://127.0.0.1:{port}"
        proc.log_path = log_path
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size of a live process (Linux VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


_MEASURE = (
    "import resource, subprocess, sys, json; "
    "rc = subprocess.run(sys.argv[1:]).returncode; "
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
    "print('PEAK_RSS_KB=' + json.dumps(peak), file=sys.stderr); sys.exit(rc)"
)


def run_measured(cmd: list[str], *, env: dict[str, str], timeout: float = 300):
    """Run `cmd` under a tiny launcher that reports the child's peak RSS; returns
    (CompletedProcess, peak in MB). The launcher has no other child, so the figure is the
    command's own."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    marker = [ln for ln in result.stderr.splitlines() if ln.startswith("PEAK_RSS_KB=")]
    assert marker, result.stderr[-3000:]
    return result, json.loads(marker[-1].split("=", 1)[1]) / 1024
