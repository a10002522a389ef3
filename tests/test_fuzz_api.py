"""Fuzz the API from its own OpenAPI schema (schemathesis): whatever a client sends, the
answer is never a 500 and always matches the schema (status code, content type, body).

Requests go to the WSGI app in process, authenticated as the lead of a project that has a
processed clip, an ontology and an import job, so that ids in generated paths sometimes
exist. Examples per operation: FUZZ_EXAMPLES (default 10), or 200 with FULL=1."""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e .[dev] (schemathesis)")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from schemathesis import checks  # noqa: E402

FULL = os.environ.get("FULL", "") not in ("", "0", "false")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200" if FULL else "10"))

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

# What the API promises: no server errors, and answers that match the schema.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def _connections_kept_open():
    """The WSGI handler closes the database connection after each request, which would end
    the test's transaction; Django's own test client unhooks it the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def lead_token(_connections_kept_open, project, lead, wav_factory):
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from ontology.services import label_create

    label_create(ontology=project.ontology, name="birds")
    outcome = clip_import(
        project=project, item=ImportItem(name="a.wav", path=wav_factory(seconds=1.0, sr=8000))
    )
    clip_process(outcome.clip_id)
    return Token.objects.create(user=lead).key


@pytest.mark.django_db
@schema.include(path_regex="^/api/").parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not FULL,
)
def test_the_api_never_answers_500_nor_outside_its_schema(case, lead_token):
    meta = case._meta
    negative = meta is not None and meta.generation.mode.is_negative
    # Invalid input may not even reach the API (a path id of "null,null" matches no route
    # and gets Django's plain 404 page): of such requests only "no 500" is asked.
    case.call_and_validate(
        headers={"Authorization": f"Token {lead_token}"},
        checks=[checks.not_a_server_error] if negative else CHECKS,
        excluded_checks=[],
    )
