"""A throwaway Earmark stack for benchmarks: its own var dir (SQLite + file-system broker by
default, or DATABASE_URL / CELERY_BROKER_URL when set), migrations, and a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# Scripts here are run as `python benchmarks/x.py`, which puts this folder first on the path;
# benchmarks/ontology.py would then shadow the ontology app. The repository root goes first.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))


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


class Worker:
    """`celery -A labelapp worker` as a child process, with its peak RSS sampled."""

    def __init__(self, concurrency: int = 2):
        self.concurrency = concurrency
        self.peak_rss = 0
        self._stop = threading.Event()

    def __enter__(self) -> Worker:
        import psutil

        self.log = open(Path(os.environ["EARMARK_VAR_DIR"]) / "worker.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "labelapp",
                "worker",
                "-Q",
                os.environ["CELERY_QUEUE"],
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        log_path = Path(self.log.name)
        while " ready." not in log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        self._ps = psutil.Process(self.proc.pid)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

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
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


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
