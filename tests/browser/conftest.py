"""Playwright for Python driving Debian's Chromium (Playwright's own browser download does
not work here). Without /usr/bin/chromium the browser tests skip, except under CI=true,
where a missing browser is a failure."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    inflight = set()  # the API calls under way (media streams may stay open: not counted)
    context.on("request", lambda r: r.resource_type in ("fetch", "xhr") and inflight.add(r))
    context.on("requestfinished", lambda r: inflight.discard(r))
    context.on("requestfailed", lambda r: inflight.discard(r))
    page = context.new_page()
    yield page
    # No request after the test: closing the page sends the workspace's unload autosave
    # (a keepalive PUT), which the live server would handle while the database is flushed
    # for the next test (a deadlock on PostgreSQL). And none still running: an autosave sent
    # just before the test ended holds its clip's row while the flush wants every table.
    context.route("**/*", lambda route: route.abort())
    deadline = time.monotonic() + 10
    while inflight and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    context.close()


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
