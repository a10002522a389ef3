"""A throwaway Earmark stack for benchmarks: its own var dir (SQLite + file-system broker by
default, or DATABASE_URL / CELERY_BROKER_URL when set), migrations, and a real worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# Scripts here are run as `python benchmarks/x.py`, which puts this folder first on the path;
# benchmarks/ontology.py would then shadow the ontology app. The repository root goes first.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))


# As deployed (DEBUG off, hashed static files from whitenoise), minus HTTPS: loopback only.
DEPLOYED_OVER_HTTP = {
    "DEBUG": "false",
    "SECRET_KEY": "benchmark-only-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
}


def setup(name: str) -> Path:
    """Point settings at a fresh var dir and set Django up; returns the var dir."""
    var = Path(tempfile.mkdtemp(prefix=f"earmark-bench-{name}-"))
    os.environ.setdefault("EARMARK_VAR_DIR", str(var))
    os.environ.setdefault("MEDIA_ROOT", str(var / "media"))
    os.environ.setdefault("CELERY_QUEUE", f"bench-{name}-{os.getpid()}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return var


def synthesize_clips(project, n: int, duration: float = 1.0) -> list:
    """`n` ready Clip rows of `project` with no audio behind them (for what reads rows only:
    ranking, the queue, agreement), written in batches of 5,000."""
    from labelapp.models import Clip

    return Clip.objects.bulk_create(
        (
            Clip(
                project=project,
                file=f"clips/none/{i}.wav",
                sha256=f"{i:064x}",
                original_name=f"{i}.wav",
                status=Clip.Status.READY,
                duration=duration,
            )
            for i in range(n)
        ),
        batch_size=5000,
    )


class Worker:
    """`celery -A labelapp worker` as a child process, with its peak RSS sampled."""

    def __init__(
        self,
        concurrency: int = 2,
        nice: int = 0,
        cold_stop: bool = False,
        threads: int = 0,
        idle: bool = False,
    ):
        self.concurrency = concurrency
        # OMP_NUM_THREADS of the worker (torch's threads per pool process); 0: the cores.
        self.threads = threads
        self.cold_stop = cold_stop
        # A positive niceness lets the web server and the database take the CPU first when
        # training and pre-labeling would otherwise fill every core.
        self.nice = nice
        self.idle = idle
        self.peak_rss = 0
        self._stop = threading.Event()

    def __enter__(self) -> Worker:
        import psutil

        from labelapp.devtools import celery_worker_start

        self.proc = celery_worker_start(
            queue=os.environ["CELERY_QUEUE"],
            env={**os.environ, **({"OMP_NUM_THREADS": str(self.threads)} if self.threads else {})},
            log_path=Path(os.environ["EARMARK_VAR_DIR"]) / "worker.log",
            concurrency=self.concurrency,
            nice=self.nice,
            idle=self.idle,
        )
        self._ps = psutil.Process(self.proc.pid)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker and its pool children."""
        return _cpu_seconds(self._ps)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self._ps, *self._ps.children(recursive=True)]
                # the largest single process: the pool child that does the work
                self.peak_rss = max(self.peak_rss, *(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        from labelapp.devtools import process_stop

        self._stop.set()
        if not self.cold_stop:
            process_stop(self.proc)
            return
        # Cold shutdown: running tasks (a training, a pre-labeling) are dropped, not waited
        # for; SIGTERM would let the worker finish them first.
        import psutil

        try:
            children = self._ps.children(recursive=True)
        except psutil.Error:
            children = []
        self.proc.send_signal(signal.SIGQUIT)
        for child in children:
            with suppress(psutil.Error):
                child.kill()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_all_processed(project_id: int, expected: int, timeout: float, progress=True) -> float:
    from labelapp.models import Clip

    started = time.monotonic()
    while True:
        done = Clip.objects.filter(project_id=project_id, status__in=["ready", "failed"]).count()
        if progress:
            print(f"\rprocessed {done}/{expected}", end="", flush=True)
        if done >= expected:
            if progress:
                print()
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {done}/{expected} clips processed in {timeout} s")
        time.sleep(0.1)


def _cpu_seconds(proc) -> float:
    import psutil

    total = 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return total
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A throwaway PostgreSQL database on the server at `server_url` (no database name in
    it); yields its URL and drops it afterwards, whatever happened."""
    import psycopg

    base = server_url.rstrip("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(command: list[str], port: int, log: Path, env: dict | None = None) -> Iterator[str]:
    """Run a web server's `command` (listening on `port`, output to `log`) from the
    repository; yield its base URL once /healthz answers, stop it after."""
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env or os.environ.copy(),
        stdout=open(log, "wb"),  # noqa: SIM115 - the server's, closed when it exits
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)  # noqa: S310 - http only
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start; see {log}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


class Gunicorn:
    """`gunicorn labelapp.wsgi` as deployed (DEBUG off, hashed static files) minus HTTPS, on a
    free loopback port, with the same environment as this process plus `env`."""

    def __init__(
        self, workers: int = 2, threads: int = 4, env: dict | None = None, keep_alive: int = 2
    ):
        self.workers = workers
        self.threads = threads
        # gunicorn closes an idle keep-alive connection after 2 s by default; a client that
        # sends on it just then gets a reset (a proxy in front usually holds these instead)
        self.keep_alive = keep_alive
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        import psutil

        env = {**os.environ, **DEPLOYED_OVER_HTTP, **self.extra_env}
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        var = Path(os.environ["EARMARK_VAR_DIR"])
        self.log = open(var / "gunicorn.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "labelapp.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--backlog",
                "256",
                "--keep-alive",
                str(self.keep_alive),
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2)  # noqa: S310 - loopback
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"gunicorn did not start; see {self.log.name}") from None
                time.sleep(0.2)
        self._ps = psutil.Process(self.proc.pid)
        return self

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self._ps)

    def __exit__(self, *exc) -> None:
        from labelapp.devtools import process_stop

        process_stop(self.proc)


def browser_login(browser, base: str, username: str, password: str, viewport: dict) -> dict:
    """Log in through the login page in a context of its own (a Playwright browser); answer
    its storage state, for the contexts that measure to start logged in."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    state = context.storage_state()
    context.close()
    return state
