"""PostgreSQL restarts during annotation work: the client gets a clear, retryable 503, and a
retry with the same Idempotency-Key saves the submission exactly once.

The in-process tests pin the idempotency rules on the default test database; the fault test
runs an app server against a private PostgreSQL and stops and starts that server."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
import requests

from labelapp.models import AnnotationRevision, Clip
from labelapp.services.imports import ImportItem, clip_import
from tests.faults._procs import PrivatePostgres, app_env, app_server, manage

# --- the rules, in process ------------------------------------------------------------------


@pytest.fixture
def clips(project, wav_factory):
    from ontology.services import label_create

    label_create(ontology=project.ontology, name="birds")
    label_create(ontology=project.ontology, name="noise")
    out = []
    for i in range(2):
        outcome = clip_import(
            project=project, item=ImportItem(name=f"c{i}.wav", path=wav_factory(seconds=1.0))
        )
        out.append(Clip.objects.get(pk=outcome.clip_id))
    return out


def _submit(client, clip, key=None, labels=("birds",), **extra):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/api/clips/{clip.pk}/annotations/",
        {"clip_labels": list(labels), **extra},
        format="json",
        headers=headers,
    )


@pytest.mark.django_db
def test_a_retried_submission_with_the_same_key_is_saved_once(client_for, annotator, clips):
    client = client_for(annotator)
    first = _submit(client, clips[0], key="k-1")
    assert first.status_code == 201, first.content
    again = _submit(client, clips[0], key="k-1")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["annotation"]["version"] == first.json()["annotation"]["version"] == 1
    assert AnnotationRevision.objects.filter(author=annotator).count() == 1
    # a new key is a new submission: a new version
    third = _submit(client, clips[0], key="k-2", expected_version=1, labels=("noise",))
    assert third.status_code == 200 and third.json()["annotation"]["version"] == 2


@pytest.mark.django_db
def test_the_key_may_come_in_the_body(client_for, annotator, clips):
    client = client_for(annotator)
    assert _submit(client, clips[0], idempotency_key="body-key").status_code == 201
    assert _submit(client, clips[0], idempotency_key="body-key").status_code == 200
    assert AnnotationRevision.objects.filter(idempotency_key="body-key").count() == 1


@pytest.mark.django_db
def test_a_key_reused_for_another_clip_is_a_409_and_writes_nothing(client_for, annotator, clips):
    client = client_for(annotator)
    assert _submit(client, clips[0], key="once").status_code == 201
    reused = _submit(client, clips[1], key="once")
    assert reused.status_code == 409 and "another clip" in reused.json()["detail"]
    assert not clips[1].annotations.exists()


@pytest.mark.django_db
def test_keys_are_per_user(client_for, annotator, reviewer, clips):
    assert _submit(client_for(annotator), clips[0], key="same").status_code == 201
    assert _submit(client_for(reviewer), clips[0], key="same").status_code == 201
    assert AnnotationRevision.objects.filter(idempotency_key="same").count() == 2


@pytest.mark.django_db
def test_an_overlong_key_is_a_clear_400(client_for, annotator, clips):
    response = _submit(client_for(annotator), clips[0], key="x" * 65)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["detail"]


@pytest.mark.django_db
def test_without_a_key_every_change_is_a_new_version(client_for, annotator, clips):
    client = client_for(annotator)
    assert _submit(client, clips[0]).status_code == 201
    assert _submit(client, clips[0], labels=("noise",)).json()["annotation"]["version"] == 2
    # the same labels again change nothing (a new version with an empty revision)
    assert _submit(client, clips[0], labels=("noise",)).json()["annotation"]["version"] == 2


@pytest.mark.django_db
def test_a_key_sent_again_with_other_labels_is_a_409_and_writes_nothing(
    client_for, annotator, clips
):
    """The replay answered 200 with the first labels and dropped the new ones unseen."""
    client = client_for(annotator)
    assert _submit(client, clips[0], key="k").status_code == 201
    other = _submit(client, clips[0], key="k", labels=("noise",))
    assert other.status_code == 409 and "another submission" in other.json()["detail"]
    assert AnnotationRevision.objects.filter(author=annotator).count() == 1
    assert _submit(client, clips[0], key="k").status_code == 200  # the same: replayed


# --- the fault: a private PostgreSQL stopped and started under a running app server ----------

SEED = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from labelapp.services.projects import project_create
from labelapp.services.imports import ImportItem, clip_import
from tests.conftest import write_wav
from pathlib import Path
import tempfile
lead = get_user_model().objects.create_user("pg-lead", password="unused-" + "x" * 12)
project = project_create(name="Restarts", created_by=lead, label_mode="multi")
from ontology.services import label_create
label_create(ontology=project.ontology, name="robin")
label_create(ontology=project.ontology, name="wren")
path = write_wav(Path(tempfile.mkdtemp()) / "a.wav", seconds=1.0)
outcome = clip_import(project=project, item=ImportItem(name="a.wav", path=path))
print(json.dumps({"token": Token.objects.create(user=lead).key, "clip": outcome.clip_id}))
"""


@pytest.fixture
def postgres():
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.destroy()


def test_a_submission_during_a_postgres_restart_is_a_retryable_503_then_saved_once(
    postgres, tmp_path
):
    env = app_env(
        DATABASE_URL=postgres.url,
        MEDIA_ROOT=str(tmp_path / "media"),
        EARMARK_VAR_DIR=str(tmp_path / "var"),
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    manage("migrate", "-v0", env=env)
    seed = json.loads(manage("shell", "-c", SEED, env=env).strip().splitlines()[-1])
    url_of = f"/api/clips/{seed['clip']}/annotations/"
    with app_server(env, tmp_path / "server.log") as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {seed['token']}"

        def submit(key: str, label: str = "wren"):
            return session.post(
                server.base_url + url_of,
                json={"clip_labels": [label], "segments": []},
                headers={"Idempotency-Key": key},
                timeout=30,
            )

        assert submit(uuid.uuid4().hex, "robin").status_code == 201
        key = uuid.uuid4().hex  # a change (the same labels again would change nothing)
        postgres.stop()
        down = submit(key)
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0
        assert "safe to retry" in down.json()["detail"]
        assert down.json()["code"] == "database_unavailable"
        postgres.start()
        retry = submit(key)
        assert retry.status_code == 200, retry.text
        saved_version = retry.json()["annotation"]["version"]
        assert saved_version == 2
        again = submit(key)
        assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["annotation"]["version"] == saved_version
        log = server.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    with psycopg.connect(postgres.url.replace("postgres://", "postgresql://")) as conn:
        count = conn.execute(
            "SELECT count(*) FROM labelapp_annotationrevision WHERE idempotency_key = %s",
            (key,),
        ).fetchone()[0]
        versions = conn.execute("SELECT max(version) FROM labelapp_annotation").fetchone()[0]
    assert count == 1 and versions == 2
