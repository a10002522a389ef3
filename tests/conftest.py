"""Shared fixtures: users in each role, a project, API clients, generated audio.

Unit and API tests run Celery tasks eagerly (inline, on commit). Tests under tests/e2e and
tests/browser turn that off and talk to a real worker process through the real broker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import uuid
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

# A project's first training pretrains on its clips once it has 100 (ml_backend/pretrain.py):
# up to 240 steps, minutes. Tests that build such a project pretrain in a few steps; read when
# ml_backend.training is first imported, and passed on to the worker processes started here.
os.environ.setdefault("EARMARK_PRETRAIN_STEPS", "8")
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from labelapp.celery import app as celery_app
from labelapp.devtools import celery_worker_start, process_stop
from labelapp.models import Clip, Membership

FSDD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fsdd"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _isolated_media_and_eager_tasks(request, settings, media_root, tmp_path_factory):
    settings.MEDIA_ROOT = str(media_root)
    # A cache of each test's own: login failure counts and cached dashboard figures must not
    # leak from one test (or one run) into the next.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path_factory.mktemp("cache")),
        }
    }
    # Hashing dominates user creation with the production hasher; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    real_worker = request.node.get_closest_marker("e2e") or request.node.get_closest_marker(
        "browser"
    )
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = not real_worker
    # Models are cached by artifact name, which holds the project's and the run's ids. A test's
    # rollback gives SQLite's ids again, so the next test's "models/1/run-1.pt" was the last
    # one's model (a NaN one, in one order). Deployed, ids are never given twice.
    inference = sys.modules.get("ml_backend.inference")
    if inference is not None:
        inference.load_model.cache_clear()
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("site-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def lead(make_user):
    return make_user("lena-lead")


@pytest.fixture
def reviewer(make_user):
    return make_user("rita-reviewer")


@pytest.fixture
def annotator(make_user):
    return make_user("ann-annotator")


@pytest.fixture
def outsider(make_user):
    return make_user("oscar-outsider")


@pytest.fixture
def project(db, lead, reviewer, annotator):
    from labelapp.services.projects import membership_set, project_create

    proj = project_create(name="Birds", created_by=lead, label_mode="multi")
    membership_set(project=proj, user=reviewer, role=Membership.Role.REVIEWER)
    membership_set(project=proj, user=annotator, role=Membership.Role.ANNOTATOR)
    return proj


@pytest.fixture
def other_project(db, outsider):
    from labelapp.services.projects import project_create

    return project_create(name="Someone else's", created_by=outsider)


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def write_wav(
    path: Path,
    seconds: float = 1.0,
    sr: int = 16000,
    channels: int = 1,
    freq: float = 440.0,
    amplitude: float = 0.5,
    seed: int = 0,
) -> Path:
    """A 16-bit PCM WAV of a sine plus a little noise (different seeds: different bytes)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    mono = amplitude * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(n)
    data = np.repeat(mono[:, None], channels, axis=1)
    pcm = (np.clip(data, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(channels)
        wf.setsampwidth(2)
        wf.setframerate(sr)
        wf.writeframes(pcm.tobytes())
    return path


@pytest.fixture
def wav_factory(tmp_path):
    counter = {"n": 0}

    def make(name: str | None = None, **kwargs) -> Path:
        counter["n"] += 1
        kwargs.setdefault("seed", counter["n"])
        return write_wav(tmp_path / (name or f"clip{counter['n']}.wav"), **kwargs)

    return make


def fsdd_files(limit: int | None = None) -> list[Path]:
    files = sorted((FSDD_DIR / "recordings").glob("*.wav"))
    return files[:limit] if limit else files


@pytest.fixture
def fsdd():
    if not (FSDD_DIR / "recordings").is_dir():
        pytest.skip(f"FSDD not found at {FSDD_DIR}: these tests need ../shared/datasets/fsdd")
    return fsdd_files


def _database_url(db: dict) -> str:
    if "sqlite" in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def running_worker(prefix: str, media_root: Path, log_path: Path, **env_extra: str):
    """A real `celery -A labelapp worker` process on the test database, `media_root` and the
    configured broker (Redis in CI, the file-system broker by default), on a queue of its own
    that this process sends to meanwhile, so that no other worker takes these messages.
    `env_extra`: more environment (a storage's settings). The test fails when it does not
    start; it is stopped, and the queue given back, however the block ends."""
    from django.db import connection

    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    env = os.environ.copy()
    env.update(
        {
            "DATABASE_URL": _database_url(connection.settings_dict),
            "MEDIA_ROOT": str(media_root),
            "CELERY_QUEUE": queue,
            "PYTHONUNBUFFERED": "1",
            # Small label sets in tests train in seconds; the default (200 steps) is for people.
            "EARMARK_TRAIN_MIN_STEPS": "40",
            **env_extra,
        }
    )
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        try:
            proc = celery_worker_start(queue=queue, env=env, log_path=log_path)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        proc.worker_name = f"{queue}@{socket.gethostname()}"
        try:
            yield proc
        finally:
            process_stop(proc)
    finally:
        celery_app.conf.task_default_queue = previous


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, media_root, tmp_path_factory):
    """The session's real worker (`running_worker`) on the test media root."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with running_worker("earmark-test", media_root, log_path) as proc:
        yield proc


WORKER_IDLE_TIMEOUT_S = 180.0


def _worker_tasks(worker: str) -> int | None:
    """Tasks the worker is running or holds (prefetched), by asking it through the broker;
    None when it does not answer."""
    inspect = celery_app.control.inspect(destination=[worker], timeout=3.0, limit=1)
    active, reserved = inspect.active(), inspect.reserved()
    if not active or not reserved:
        return None
    return len(active.get(worker, [])) + len(reserved.get(worker, []))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Tests share one real worker. A test may end while the worker still works on what it
    started (a pre-labeling requested by its last training, a clip being processed); the
    database flush after a transactional test then races the worker's transactions and can
    fail, leaving the rows to the next test. So before any fixture is torn down (this hook
    runs before pytest's own), wait until the worker runs and holds no task, at two looks a
    second apart: a task's follow-up (a training's pre-labeling) is sent as it ends and
    fetched a moment later."""
    proc = getattr(item, "funcargs", {}).get("celery_worker_process")
    if proc is None or proc.poll() is not None:
        return
    deadline = time.monotonic() + WORKER_IDLE_TIMEOUT_S
    quiet_since = None
    while time.monotonic() < deadline:
        tasks = _worker_tasks(proc.worker_name)
        if tasks != 0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            return
        time.sleep(0.25)
    warnings.warn("the worker was still busy after the test", stacklevel=1)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, message="") -> object:
    """Poll until `predicate()` is truthy; fail with `message` after `timeout` seconds (a
    callable message is called then, e.g. to show a log's tail as it is at the failure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            pytest.fail(text or f"condition not met within {timeout} s")
        time.sleep(interval)


def ready_clips(project, n: int, *, offset: int = 0, **extra) -> list[Clip]:
    """Rows as the worker leaves them (no audio needed for the queue); `extra` sets other
    fields (a status), `offset` numbers them after an earlier batch of the same project."""
    fields = {"status": Clip.Status.READY, **extra}
    return [
        Clip.objects.create(
            project=project,
            file=f"x/{project.pk}-{i}.wav",
            sha256=f"{project.pk:08d}{i:056d}",
            original_name=f"c{i}.wav",
            duration=10.0,
            sample_rate=16000,
            channels=1,
            **fields,
        )
        for i in range(offset, offset + n)
    ]
