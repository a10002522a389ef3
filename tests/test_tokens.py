"""Personal API tokens: created with a key shown once (only its hash is stored), used as
`Token` or `Bearer`, revoked at once, last use recorded at most once a minute."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labelapp.models import ApiToken
from labelapp.services.tokens import api_token_create

pytestmark = pytest.mark.django_db


def with_header(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def assert_refused(response, detail: str) -> None:
    """401 with the challenge that tells a client to authenticate again (a 403 told it that
    authenticating would not help); the detail says which check refused."""
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert detail in response.json()["detail"]


def test_a_created_token_shows_its_key_once_and_stores_only_a_hash(client_for, annotator):
    res = client_for(annotator).post("/api/tokens/", {"name": "import script"}, format="json")
    assert res.status_code == 201
    key = res.json()["key"]
    assert key.startswith("em_") and len(key) > 40
    token = ApiToken.objects.get(pk=res.json()["id"])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.name, token.prefix, token.key_hash}
    assert key.startswith(token.prefix)
    listed = client_for(annotator).get("/api/tokens/").json()
    assert [t["name"] for t in listed] == ["import script"]
    assert "key" not in listed[0] and listed[0]["active"] is True
    assert "key" not in client_for(annotator).get(f"/api/tokens/{token.pk}/").json()


def test_a_token_authenticates_as_token_or_bearer(annotator, project):
    _, key = api_token_create(user=annotator, name="cli")
    for scheme in ("Token", "Bearer"):
        res = with_header(f"{scheme} {key}").get("/api/projects/")
        assert res.status_code == 200, (scheme, res.content)
        assert [p["name"] for p in res.json()] == ["Birds"]


def test_writes_with_a_token_need_no_csrf_token(annotator):
    token, key = api_token_create(user=annotator, name="cli")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.delete(f"/api/tokens/{token.pk}/").status_code == 200  # it revokes itself


def test_a_token_cannot_create_another_but_a_session_can(annotator):
    """A leaked key could make keys that outlive its own revocation: a new token takes a
    signed-in session. DRF's own keys, sent as Token or Bearer, are keys too."""
    from rest_framework.authtoken.models import Token

    _, key = api_token_create(user=annotator, name="cli")
    drf_key = Token.objects.create(user=annotator).key
    for header in (f"Token {key}", f"Bearer {key}", f"Token {drf_key}", f"Bearer {drf_key}"):
        client = with_header(header)
        assert client.get("/api/tokens/").status_code == 200, header  # the key is good
        res = client.post("/api/tokens/", {"name": "second"}, format="json")
        assert res.status_code == 403 and res.json()["code"] == "session_required", header
    assert ApiToken.objects.filter(user=annotator).count() == 1
    session = APIClient(enforce_csrf_checks=False)
    session.force_login(annotator)
    assert session.post("/api/tokens/", {"name": "second"}, format="json").status_code == 201


def test_a_revoked_or_unknown_token_is_refused(client_for, annotator):
    token, key = api_token_create(user=annotator, name="cli")
    res = client_for(annotator).delete(f"/api/tokens/{token.pk}/")
    assert res.status_code == 200 and res.json()["active"] is False
    for header in (f"Token {key}", f"Bearer {key}", "Bearer em_not-a-key"):
        assert_refused(with_header(header).get("/api/projects/"), "invalid or revoked token")
    assert_refused(with_header("Bearer").get("/api/projects/"), "Bearer <key>")
    assert_refused(with_header("Token abc").get("/api/projects/"), "Invalid token")  # DRF's key
    # Revoking again changes nothing.
    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at
    client_for(annotator).delete(f"/api/tokens/{token.pk}/")
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at


def test_a_disabled_users_token_is_refused(annotator):
    _, key = api_token_create(user=annotator, name="cli")
    annotator.is_active = False
    annotator.save()
    assert_refused(with_header(f"Token {key}").get("/api/projects/"), "invalid or revoked token")


def test_drf_keys_made_by_drf_create_token_still_work(annotator):
    legacy = Token.objects.create(user=annotator)
    assert with_header(f"Token {legacy.key}").get("/api/projects/").status_code == 200


def test_last_use_is_written_at_most_once_a_minute(annotator):
    token, key = api_token_create(user=annotator, name="cli")
    client = with_header(f"Token {key}")
    client.get("/api/projects/")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get("/api/projects/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    earlier = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    client.get("/api/projects/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > earlier + timedelta(minutes=1)


def test_tokens_are_your_own(client_for, annotator, reviewer):
    theirs, key = api_token_create(user=reviewer, name="theirs")
    assert client_for(annotator).get("/api/tokens/").json() == []
    assert client_for(annotator).delete(f"/api/tokens/{theirs.pk}/").status_code == 404
    assert client_for(annotator).get(f"/api/tokens/{theirs.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert client_for().get("/api/tokens/").status_code in (401, 403)


def test_a_token_needs_a_name(client_for, annotator):
    res = client_for(annotator).post("/api/tokens/", {"name": "   "}, format="json")
    assert res.status_code == 400
    assert ApiToken.objects.count() == 0


def test_the_tokens_page_lists_tokens_without_keys(client, annotator):
    token, key = api_token_create(user=annotator, name="nightly export")
    client.force_login(annotator)
    page = client.get("/tokens/")
    assert page.status_code == 200
    assert b"nightly export" in page.content and token.prefix.encode() in page.content
    assert key.encode() not in page.content
