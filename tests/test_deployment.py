"""Deployment, from an operator's exploratory test. The Docker image's steps, without Docker:
its ENV lines in order, its collectstatic RUN step as written, then a page under its runtime
settings (the image answered 500 on every page: collectstatic ran with DEBUG on, so no
manifest of hashed names, and before EARMARK_VAR_DIR was set, so the files were not where the
app serves them from). The health check behind the HTTPS redirect, and the ML queue."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _steps() -> list[tuple[str, str]]:
    steps, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            steps.append((word.upper(), rest))
    return steps


def _image_env(steps, upto: int, data: Path) -> dict[str, str]:
    """The environment the image's ENV lines before step `upto` set (/data is `data`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "EARMARK"))}
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "MEDIA_ROOT", "DEBUG"):
        env.pop(key, None)
    for word, rest in steps[:upto]:
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value.replace("/data", str(data))
    return env


def test_the_images_collectstatic_step_serves_its_pages_under_its_runtime_settings(tmp_path):
    steps = _steps()
    at = next(i for i, (w, rest) in enumerate(steps) if w == "RUN" and "collectstatic" in rest)
    build_env = _image_env(steps, at, tmp_path)
    command = steps[at][1].replace("python ", f"{sys.executable} ", 1)
    subprocess.run(command, shell=True, cwd=ROOT, env=build_env, check=True, capture_output=True)  # noqa: S602

    runtime = _image_env(steps, len(steps), tmp_path)
    runtime |= {
        "SECRET_KEY": "runtime-" + "k" * 50,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "labelapp.settings",
        "SECURE_SSL_REDIRECT": "false",
    }
    probe = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/accounts/login/')\n"
        "print(r.status_code)\n"
        "import re\n"
        "css = re.search(r'/static/earmark/earmark[.][0-9a-f]{12}[.]css', r.content.decode())\n"
        "print(css.group(0) if css else 'no hashed stylesheet')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=runtime, capture_output=True, text=True
    )
    status, stylesheet = (out.stdout.strip().splitlines() + ["", ""])[:2]
    assert status == "200", out.stdout + out.stderr[-2000:]
    assert stylesheet.startswith("/static/earmark/earmark."), stylesheet
    served = tmp_path / "var" / "staticfiles" / stylesheet.removeprefix("/static/")
    assert served.is_file()


@pytest.mark.django_db
def test_healthz_is_plain_http_behind_the_ssl_redirect_and_503_without_a_database(
    client, settings, monkeypatch
):
    """A load balancer's plain-HTTP check got a 301 to https (unhealthy), and with the
    database down an HTML 500."""
    from django.db import OperationalError, connection

    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz").json() == {"status": "ok"}
    # and by IP, a Host not in ALLOWED_HOSTS (a 400 for any other page)
    assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3").status_code == 400
    assert client.get("/healthz", HTTP_HOST="10.1.2.3").json() == {"status": "ok"}

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", down)
    response = client.get("/healthz")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["status"] == "unavailable"
    # The driver's words (they name the server's address) go to the log, not to anyone asking.
    assert response.json()["detail"] == "the database does not answer (OperationalError)"


@pytest.mark.django_db
def test_healthz_says_when_the_static_files_were_never_collected(client, settings, tmp_path):
    """Without collectstatic every page was a 500 while /healthz and ?deep said ok."""
    from django.contrib.staticfiles.storage import staticfiles_storage

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.STATIC_ROOT = str(tmp_path / "never-collected")
    staticfiles_storage._setup()
    for url in ("/healthz", "/healthz?deep=1"):
        res = client.get(url)
        assert res.status_code == 503, url
        assert "run `manage.py collectstatic --noinput`" in res.json()["detail"]
    (tmp_path / "never-collected").mkdir()
    manifest = tmp_path / "never-collected" / "staticfiles.json"
    manifest.write_text('{"paths": {}, "version": "1.1"}')
    staticfiles_storage._setup()
    assert client.get("/healthz").status_code == 200


def test_a_health_check_503_is_logged_as_a_warning_not_an_error():
    """A probe every 10 s through an outage wrote an ERROR line each."""
    import logging

    from labelapp.logfilters import RefusalWithoutTraceback

    record = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", None, None)
    record.status_code = 503
    record.request = type("R", (), {"path": "/healthz"})()
    assert RefusalWithoutTraceback().filter(record) and record.levelname == "WARNING"
    other = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", None, None)
    other.status_code = 503
    other.request = type("R", (), {"path": "/api/clips/1/annotations/"})()
    assert RefusalWithoutTraceback().filter(other) and other.levelname == "ERROR"


@pytest.mark.django_db
def test_healthz_deep_checks_the_broker_the_store_and_that_a_worker_with_beat_runs(
    client, monkeypatch, settings, tmp_path
):
    """/healthz said "ok" with the worker and beat dead (uploads stayed "pending" and nothing
    said why) or the broker down: `?deep=1` asks each part an upload needs."""
    import time

    from django.core.cache import cache

    from labelapp.celery import app
    from labelapp.services.health import _worker_seen_key, worker_seen
    from labelapp.tasks import clips_sweep_pending

    cache.delete(_worker_seen_key())
    never = client.get("/healthz?deep=1")
    assert never.status_code == 503 and never["Retry-After"] == "5"
    checks = never.json()["checks"]
    assert [checks[k]["ok"] for k in ("database", "static", "broker", "media", "worker")] == [
        True,
        True,
        True,
        True,
        False,
    ]
    assert "celery beat" in never.json()["detail"]
    assert client.get("/healthz").json() == {"status": "ok"}  # liveness asks none of that

    clips_sweep_pending.apply()  # beat's sweep, run by a worker: it checks in
    ready = client.get("/healthz?deep=1")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["status"] == "ok" and ready.json()["checks"]["worker"]["seen_s_ago"] < 5

    # Another queue (a staging copy, a restore) sharing this cache has no worker of its own.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    settings.CELERY_TASK_DEFAULT_QUEUE = f"{queue}-restore"
    assert client.get("/healthz?deep=1").json()["checks"]["worker"]["ok"] is False
    settings.CELERY_TASK_DEFAULT_QUEUE = queue

    worker_seen(time.time() - 400)  # beat or the worker died four minutes ago
    late = client.get("/healthz?deep=1").json()
    assert late["status"] == "unavailable" and late["checks"]["worker"]["seen_s_ago"] >= 400
    assert "no worker with beat seen for 400 s" in late["detail"]

    # the embedded default's folders: a connection to them never fails, a message does
    if str(app.conf.broker_url).startswith("filesystem://"):
        folder = app.conf.broker_transport_options["data_folder_in"]
        monkeypatch.setitem(
            app.conf, "broker_transport_options", {"data_folder_in": str(tmp_path / "gone")}
        )
        gone = client.get("/healthz?deep=1").json()
        assert gone["checks"]["broker"] == {
            "ok": False,
            "detail": "the broker's folder is missing or not writable",
        }
        monkeypatch.setitem(app.conf, "broker_transport_options", {"data_folder_in": folder})
    settings.MEDIA_ROOT = str(tmp_path / "no-media")
    media = client.get("/healthz").status_code, client.get("/healthz?deep").json()  # bare ?deep
    assert media[0] == 200 and media[1]["checks"]["media"]["ok"] is False
    settings.MEDIA_ROOT = str(tmp_path)

    worker_seen()
    monkeypatch.setitem(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")  # nothing there
    down = client.get("/healthz?deep=1")
    assert down.status_code == 503 and down.json()["checks"]["broker"]["ok"] is False
    assert down.json()["detail"] == "the broker does not answer (OperationalError)"


@pytest.mark.parametrize("ml_queue, expected", [("", "earmark"), ("gpu", "gpu")])
def test_the_models_jobs_go_to_the_ml_queue_when_one_is_named(ml_queue, expected):
    """The README said a GPU machine could take `-Q` of its own, but every task went to
    CELERY_QUEUE."""
    probe = (
        "import django; django.setup()\n"
        "from labelapp.celery import app\n"
        "route = app.amqp.router.route\n"
        "for name in ('ml_backend.tasks.train', 'ml_backend.tasks.prelabel',\n"
        "             'ml_backend.tasks.rank', 'labelapp.tasks.clips_sweep_pending'):\n"
        "    print(route({}, name)['queue'].name)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELERY")},
        "DJANGO_SETTINGS_MODULE": "labelapp.settings",
        "EARMARK_ML_QUEUE": ml_queue,
        "CELERY_QUEUE": "earmark",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.stdout.split() == [expected, expected, expected, "earmark"], out.stderr[-1500:]
