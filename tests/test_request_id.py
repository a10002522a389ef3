"""Each request's id: in the response, in the log lines written for it (an access log's line
and a traceback could not be matched), and on the 500 page; a host the server does not answer
for says so on the 400 page (it said the request was "too large or malformed")."""

from __future__ import annotations

import logging
import re

import pytest

from labelapp.requestid import RequestIdFilter

pytestmark = pytest.mark.django_db


class _Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record):
        self.records.append(record)


def test_a_response_and_its_log_lines_carry_the_request_id(client):
    keep = _Keep()
    logging.getLogger().addHandler(keep)
    try:
        res = client.get("/api/clips/999999/", HTTP_X_REQUEST_ID="lb-4f2a.17")
        other = client.get("/healthz", HTTP_X_REQUEST_ID="two words\\n")
    finally:
        logging.getLogger().removeHandler(keep)
    assert res.status_code in (401, 403) and res["X-Request-ID"] == "lb-4f2a.17"
    said = [r for r in keep.records if r.name == "django.request"]
    assert said and said[0].request_id == "lb-4f2a.17", [(r.name, r.getMessage()) for r in said]
    assert re.fullmatch(r"[0-9a-f]{16}", other["X-Request-ID"])  # a made-up one is replaced
    from labelapp.requestid import current

    # done with: not the next lines' id (runserver's static files, outside the middleware,
    # were logged with the page's)
    assert current() == "-"


def test_the_500_page_gives_the_request_id(client, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests._boom_urls"
    client.raise_request_exception = False
    res = client.get("/boom/", HTTP_X_REQUEST_ID="req-500")
    assert res.status_code == 500 and res["X-Request-ID"] == "req-500"
    assert 'data-testid="request-id">req-500<' in res.content.decode()


def test_an_api_500_is_json_with_the_request_id(client, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests._boom_urls"
    client.raise_request_exception = False
    res = client.get("/api/boom/", HTTP_X_REQUEST_ID="req-api-500")
    assert res.status_code == 500 and res["Content-Type"] == "application/json"
    body = res.json()
    assert body["request_id"] == "req-api-500" and "req-api-500" in body["detail"]


def test_a_host_name_the_server_does_not_serve_is_said_on_the_400_page(client, settings):
    settings.DEBUG = False
    res = client.get("/", HTTP_HOST="evil.example")
    assert res.status_code == 400
    assert "does not answer for that host name" in res.content.decode()
    assert "Back to your projects" not in res.content.decode()  # on that host: another 400
