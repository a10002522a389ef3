"""What `/healthz?deep=1` checks: every part an upload needs, not only the web process.

`/healthz` alone says the process and its database answer (a load balancer's liveness). An
operator's readiness check asks more: the broker takes messages, the media store answers,
and a worker with beat runs (beat's sweep of pending clips, once a minute, leaves its time
in the cache: a deployment whose worker or beat died served uploads that stayed "pending"
and said nothing)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def _worker_seen_key() -> str:
    """Per queue and database: a staging copy or a restore that shares the cache (another
    queue, another database, no worker of its own) read the production worker's check-in and
    said "worker ok"."""
    from django.db import connection

    return (
        f"earmark:worker-seen:{settings.CELERY_TASK_DEFAULT_QUEUE}:"
        f"{connection.settings_dict.get('NAME')}"
    )


# How often beat's sweep of pending clips runs, as its schedule says.
SWEEP_EVERY_S = float(settings.CELERY_BEAT_SCHEDULE["sweep-pending-clips"]["schedule"])
WORKER_LATE_S = 3 * SWEEP_EVERY_S


def worker_seen(now: float | None = None) -> None:
    """Called by the periodic sweep a worker runs: a worker and beat are alive. Fails open (a
    dead cache must not fail the sweep)."""
    from django.core.cache import cache

    try:
        cache.set(_worker_seen_key(), time.time() if now is None else now, timeout=None)
    except Exception:  # noqa: BLE001 -- a cache outage is the readiness check's to report
        logger.warning("the cache did not take the worker's check-in", exc_info=True)


def database() -> dict[str, Any]:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        # The reason to the log, not to whoever asks: the health check answers anyone, and the
        # driver's message names the server's address and port.
        logger.warning("health check: the database does not answer: %s", exc)
        return {"ok": False, "detail": f"the database does not answer ({type(exc).__name__})"}
    return {"ok": True}


def static_files() -> dict[str, Any]:
    """With DEBUG off the pages name hashed static files from collectstatic's manifest: without
    it every page was a 500 while the health checks said ok and a balancer kept the server."""
    from django.contrib.staticfiles.storage import staticfiles_storage

    manifest = getattr(staticfiles_storage, "manifest_name", None)
    if manifest is None:  # plain storage (DEBUG): nothing to have collected
        return {"ok": True}
    try:
        found = staticfiles_storage.exists(manifest)
    except OSError:
        found = False
    if not found:
        return {
            "ok": False,
            "detail": "the static files are not collected: run `manage.py collectstatic "
            "--noinput`, then restart the web server",
        }
    return {"ok": True}


def _broker() -> dict[str, Any]:
    from kombu.exceptions import OperationalError

    from labelapp.celery import app

    options = app.conf.broker_transport_options or {}
    if str(app.conf.broker_write_url or app.conf.broker_url or "").startswith("filesystem://"):
        # The embedded broker is a folder: a connection to it never fails, a message to a
        # folder that is gone does (an export stayed pending five minutes).
        folder = options.get("data_folder_in")
        if folder and not _writable_dir(folder):
            return {"ok": False, "detail": "the broker's folder is missing or not writable"}
        return {"ok": True}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
    except (OperationalError, OSError) as exc:
        return {"ok": False, "detail": f"the broker does not answer ({type(exc).__name__})"}
    return {"ok": True}


def _writable_dir(path) -> bool:
    import os

    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _media() -> dict[str, Any]:
    from django.core.files.storage import FileSystemStorage, default_storage

    from labelapp.media import local_store_gone, store_error_reason

    if isinstance(default_storage, FileSystemStorage):
        # `exists()` of a name under a missing folder is only False.
        if not _writable_dir(default_storage.location):
            return {"ok": False, "detail": "the media folder is missing or not writable"}
        if local_store_gone():
            return {
                "ok": False,
                "detail": "the media folder has no clips folder, though clips were imported "
                "into it: is its volume mounted?",
            }
        return {"ok": True}
    try:
        default_storage.exists("healthz")  # a HEAD request on S3; a stat on a folder
    except Exception as exc:  # noqa: BLE001 -- any failure of the store is its answer here
        return {"ok": False, "detail": f"the media store: {store_error_reason(exc)}"}
    return {"ok": True}


def _worker(now: float) -> dict[str, Any]:
    from django.core.cache import cache

    try:
        seen = cache.get(_worker_seen_key())
    except Exception as exc:  # noqa: BLE001 -- a cache that does not answer
        return {"ok": False, "detail": f"the cache does not answer ({type(exc).__name__})"}
    if seen is None:
        return {
            "ok": False,
            "detail": "no worker with beat has run since the cache was emptied: "
            "are `celery worker` and `celery beat` running?",
        }
    ago = max(0.0, now - float(seen))
    if ago > WORKER_LATE_S:
        return {
            "ok": False,
            "seen_s_ago": round(ago),
            "detail": f"no worker with beat seen for {round(ago)} s (they check in every "
            f"{round(SWEEP_EVERY_S)} s): are `celery worker` and `celery beat` running?",
        }
    return {"ok": True, "seen_s_ago": round(ago)}


def readiness(now: float | None = None) -> tuple[bool, dict[str, dict[str, Any]]]:
    """(all well, each part's answer)."""
    now = time.time() if now is None else now
    checks = {
        "database": database(),
        "static": static_files(),
        "broker": _broker(),
        "media": _media(),
        "worker": _worker(now),
    }
    return all(c["ok"] for c in checks.values()), checks
