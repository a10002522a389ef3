"""Redis stops while people work: pages, log-ins, submissions and uploads keep working, and
the work that should have been enqueued is not lost: the rows stay pending and the periodic
sweeps (celery beat) send them once Redis is back.

An app server and a worker run as subprocesses against a private Redis (broker and cache)
that the test stops and starts; the machine's own Redis is never touched."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from labelapp.devtools import celery_worker_start, process_stop
from labelapp.models import Annotation, Clip
from labelapp.services.annotations import annotation_submit
from ml_backend.models import TrainingRun
from ontology.services import label_create
from tests.conftest import _database_url, ready_clips, wait_for, write_wav
from tests.faults._procs import ROOT, PrivateRedis, app_env, app_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PORTABLE_PASSWORD = "portable-password-4-subprocesses"


@pytest.fixture
def redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack_env(redis, media_root, tmp_path):
    from django.db import connection

    return app_env(
        DATABASE_URL=_database_url(connection.settings_dict),
        MEDIA_ROOT=str(media_root),
        CELERY_BROKER_URL=f"{redis.url}/0",
        REDIS_URL=f"{redis.url}/1",
        CELERY_QUEUE=f"earmark-fault-{uuid.uuid4().hex[:8]}",
        EARMARK_VAR_DIR=str(tmp_path / "var"),
    )


@pytest.fixture
def worker(stack_env, tmp_path):
    proc = celery_worker_start(
        queue=stack_env["CELERY_QUEUE"], env=stack_env, log_path=tmp_path / "worker.log"
    )
    yield proc
    process_stop(proc)


def _celery_call(task: str, env: dict) -> None:
    """What beat does every minute: send the sweep task through the broker."""
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "labelapp", "call", task],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _session_for(user) -> dict:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def test_work_goes_on_while_redis_is_down_and_nothing_is_lost(
    redis, stack_env, worker, project, lead, annotator, tmp_path
):
    label_create(ontology=project.ontology, name="robin")
    label_create(ontology=project.ontology, name="wren")
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # The test settings hash with MD5 for speed; the app server knows only the real hashers.
    annotator.password = make_password(PORTABLE_PASSWORD, hasher=PBKDF2PasswordHasher())
    annotator.save(update_fields=["password"])
    lead_api = requests.Session()
    lead_api.headers["Authorization"] = f"Token {Token.objects.create(user=lead).key}"
    with app_server(stack_env, tmp_path / "server.log") as server:
        base = server.base_url

        def upload(name: str, seed: int):
            path = write_wav(tmp_path / name, seconds=1.0, sr=8000, seed=seed)
            with open(path, "rb") as fh:
                return lead_api.post(
                    f"{base}/api/projects/{project.pk}/clips/", files={"files": fh}, timeout=60
                )

        # all up: an upload is processed by the worker through Redis
        first = upload("before.wav", 1)
        assert first.status_code == 201, first.text
        first_id = first.json()["files"][0]["clip_id"]
        wait_for(lambda: Clip.objects.get(pk=first_id).status == "ready", timeout=60)

        redis.stop()
        pages = requests.Session()
        pages.cookies.update(_session_for(annotator))
        for path in ("/", f"/projects/{project.pk}/", f"/projects/{project.pk}/annotate/"):
            assert pages.get(base + path, timeout=30).status_code == 200, path
        # log-in goes on too: the rate limit's cache (Redis) fails open
        login = requests.Session()
        login.get(f"{base}/accounts/login/", timeout=30)
        answer = login.post(
            f"{base}/accounts/login/",
            data={"username": annotator.username, "password": PORTABLE_PASSWORD},
            headers={"X-CSRFToken": login.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302, answer.text[:500]
        pages.get(f"{base}/accounts/login/", timeout=30)  # sets the CSRF cookie
        submitted = pages.post(
            f"{base}/api/clips/{first_id}/annotations/",
            json={"clip_labels": ["robin"]},
            headers={"X-CSRFToken": pages.cookies["csrftoken"]},
            timeout=30,
        )
        assert submitted.status_code == 201, submitted.text
        started = time.monotonic()
        second = upload("during.wav", 2)
        assert second.status_code == 201, second.text
        assert time.monotonic() - started < 15, "an upload hung on the dead broker"
        second_id = second.json()["files"][0]["clip_id"]
        # A second label, on a row without audio: a training is refused below two labels.
        (other,) = ready_clips(project, 1)
        annotation_submit(clip=other, user=annotator, clip_labels=["wren"])
        training = lead_api.post(f"{base}/api/projects/{project.pk}/train/", timeout=30)
        assert training.status_code == 201, training.text
        run_id = training.json()["id"]
        assert "could not enqueue" in server.log_path.read_text()
        assert "Traceback" not in server.log_path.read_text()

        # the messages were lost, the rows were not
        assert Clip.objects.get(pk=second_id).status == "pending"
        assert TrainingRun.objects.get(pk=run_id).status == "queued"
        assert Annotation.objects.filter(clip_id=first_id, annotator=annotator).exists()

        redis.start()
        long_ago = timezone.now() - timedelta(minutes=10)
        Clip.objects.filter(pk=second_id).update(created_at=long_ago)
        TrainingRun.objects.filter(pk=run_id).update(created_at=long_ago)
        _celery_call("labelapp.tasks.clips_sweep_pending", stack_env)
        _celery_call("ml_backend.tasks.trainings_sweep", stack_env)
        wait_for(
            lambda: Clip.objects.get(pk=second_id).status == "ready",
            timeout=90,
            message="the sweep did not re-send the clip uploaded while Redis was down:\n"
            + worker.log_path.read_text()[-3000:],
        )
        # a clip without audio cannot train a model; what matters is that a worker took the run
        run = wait_for(
            lambda: TrainingRun.objects.exclude(status="queued").filter(pk=run_id).first(),
            timeout=60,
            message="the sweep did not re-send the training queued while Redis was down",
        )
        assert run.status in ("running", "failed", "succeeded")
