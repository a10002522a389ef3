"""Playwright for Python driving Debian's Chromium (Playwright's own browser download does
not work here). Without /usr/bin/chromium the browser tests skip, except under CI=true,
where a missing browser is a failure."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started

CHROMIUM = Path(os.environ.get("EARMARK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

# Playwright's sync API keeps an event loop on the main thread; the ORM calls the tests make
# between browser steps are ordinary synchronous calls, so Django's async guard is lifted.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = (
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " and CI=true makes a missing browser a failure")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _ServerRequests:
    """Counts the requests the live server is handling, from Django's own signals (sent in
    the server's threads), so that a test ends only once the server has gone quiet."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        self.last = time.monotonic()

    def started(self, **kwargs):
        with self.lock:
            self.running += 1
            self.last = time.monotonic()

    def finished(self, **kwargs):
        with self.lock:
            self.running = max(0, self.running - 1)
            self.last = time.monotonic()

    def wait_quiet(self, quiet_s=0.3, limit_s=10.0):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.running == 0 and time.monotonic() - self.last >= quiet_s:
                    return
            time.sleep(0.05)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    inflight = set()  # the API calls under way (media streams may stay open: not counted)
    context.on("request", lambda r: r.resource_type in ("fetch", "xhr") and inflight.add(r))
    context.on("requestfinished", lambda r: inflight.discard(r))
    context.on("requestfailed", lambda r: inflight.discard(r))
    server = _ServerRequests()
    request_started.connect(server.started, dispatch_uid="browser-tests-started")
    request_finished.connect(server.finished, dispatch_uid="browser-tests-finished")
    page = context.new_page()
    # What the pages' Content-Security-Policy blocked (labelapp/csp.py). It forbids eval too,
    # so page.wait_for_function takes a function ("() => ..."), not a bare expression.
    refused = []
    context.on(
        "console",
        lambda m: "Content Security Policy" in m.text and refused.append(m.text),
    )
    try:
        yield page
        # No request after the test: leaving the page sends the workspace's unload autosave
        # (a keepalive PUT), which the live server would handle while the database is
        # flushed for the next test (a deadlock on PostgreSQL). So every request is refused
        # first, and the page is left while it is still there for the refusal to apply to
        # (a keepalive sent by a closing page can outlive it and escape the routing). And
        # none still running: an autosave sent just before the test ended holds its clip's
        # row while the flush wants every table.
        context.route("**/*", lambda route: route.abort())
        # A page that will not leave (or a test that closed it) is closed below anyway.
        with contextlib.suppress(Exception):
            page.goto("about:blank", timeout=5000)
        deadline = time.monotonic() + 10
        while inflight and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        context.close()
        # Whatever reached the server all the same is finished before the flush.
        server.wait_quiet()
    finally:
        request_started.disconnect(dispatch_uid="browser-tests-started")
        request_finished.disconnect(dispatch_uid="browser-tests-finished")
    assert not refused, f"the page broke its own Content-Security-Policy: {refused}"


@pytest.fixture
def login(live_server):
    def do(page, user, password="correct-horse-battery-staple"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return do


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# The workspace tests' label tree and clips (test_workspace.py and the files beside it).
@pytest.fixture
def labels(project):
    from ontology.services import label_create

    birds = label_create(ontology=project.ontology, name="birds")
    return {
        "sparrow": label_create(
            ontology=project.ontology, name="sparrow", parent=birds, hotkey="s"
        ),
        "crow": label_create(ontology=project.ontology, name="crow", parent=birds, hotkey="c"),
        "noise": label_create(ontology=project.ontology, name="noise", hotkey="n"),
    }


@pytest.fixture
def clips(project, wav_factory):
    """Three ready clips the queue serves in import order. The project's model loop is off:
    when the session's real worker processes a clip, a project without a model gets a
    cold-start ranking, which would reorder the queue under these tests."""
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from ml_backend.models import MLConfig

    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    made = []
    for i, freq in enumerate((600, 900, 1300)):
        outcome = clip_import(
            project=project,
            item=ImportItem(name=f"take{i + 1}.wav", path=wav_factory(seconds=5, freq=freq)),
        )
        clip_process(outcome.clip_id)
        made.append(_ready(outcome.clip_id))
    return made


def _ready(clip_id: int):
    """The clip once processed. `clip_process` returns at once ("skipped") when the session's
    real worker (started by the end-to-end tests; browser tests do not run tasks eagerly)
    claimed the clip first; then wait for that worker to finish it."""
    from labelapp.models import Clip
    from tests.conftest import wait_for

    clip = Clip.objects.get(pk=clip_id)
    wait_for(
        lambda: clip.refresh_from_db() or clip.status not in ("pending", "processing"),
        message=f"clip {clip_id} still {clip.status}",
    )
    assert clip.status == "ready", (clip.status, clip.error)
    return clip
