"""A user changes their own password from the menu, on an Earmark page (it was Django's admin
page, linked from nowhere, whose only link led to an admin an annotator cannot use)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_a_user_changes_their_password_from_the_menu(annotator):
    annotator.set_password("old-secret-123")
    annotator.save()
    client = Client()
    client.force_login(annotator)
    home = client.get("/").content.decode()
    assert 'href="/accounts/password_change/"' in home and 'href="/tokens/"' in home
    page = client.get("/accounts/password_change/").content.decode()
    assert "<title>Change your password · Earmark</title>" in page
    assert "admin" not in page.lower()
    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": "x", "new_password2": "y"},
    )
    assert wrong.status_code == 200
    text = wrong.content.decode()
    assert 'aria-invalid="true"' in text and 'role="alert"' in text
    assert "Your old password was entered incorrectly" in text
    done = client.post(
        "/accounts/password_change/",
        {
            "old_password": "old-secret-123",
            "new_password1": "a-much-better-passphrase-42",
            "new_password2": "a-much-better-passphrase-42",
        },
        follow=True,
    )
    assert "<title>Password changed · Earmark</title>" in done.content.decode()
    annotator.refresh_from_db()
    assert annotator.check_password("a-much-better-passphrase-42")
    assert client.get("/").status_code == 200  # still logged in here


def test_a_failed_login_is_announced_and_marks_the_fields(annotator):
    page = Client().post("/accounts/login/", {"username": annotator.username, "password": "no"})
    text = page.content.decode()
    assert 'role="alert" id="login-error"' in text
    assert text.count('aria-invalid="true" aria-describedby="login-error"') == 2


def test_guessing_the_old_password_is_limited_as_logging_in_is(annotator, settings):
    """15 wrong old passwords got 15 plain answers: a borrowed session could find the
    password itself."""
    settings.EARMARK_LOGIN_MAX_FAILURES = 3
    annotator.set_password("old-secret-123")
    annotator.save()
    client = Client()
    client.force_login(annotator)
    wrong = {"old_password": "nope", "new_password1": "x", "new_password2": "x"}
    for _ in range(3):
        text = client.post("/accounts/password_change/", wrong).content.decode()
        assert "Your old password was entered incorrectly" in text
    right = {**wrong, "old_password": "old-secret-123"}
    text = client.post("/accounts/password_change/", right).content.decode()
    assert "Too many wrong passwords for this account from your address" in text
    # the count is the log-in page's too: from this address, that account is blocked there
    page = Client().post(
        "/accounts/login/", {"username": annotator.username, "password": "old-secret-123"}
    )
    assert page.status_code == 429
    annotator.refresh_from_db()
    assert annotator.check_password("old-secret-123")


@pytest.mark.parametrize("weak", ["password", "12345678901"])
def test_a_common_or_all_digit_password_is_refused(annotator, weak):
    annotator.set_password("old-secret-123")
    annotator.save()
    client = Client()
    client.force_login(annotator)
    answer = client.post(
        "/accounts/password_change/",
        {"old_password": "old-secret-123", "new_password1": weak, "new_password2": weak},
    )
    assert answer.status_code == 200 and 'role="alert"' in answer.content.decode()
    annotator.refresh_from_db()
    assert annotator.check_password("old-secret-123")


def test_the_admins_password_page_is_limited_too(admin_user, settings):
    """/admin/password_change/ checked the old password without a limit."""
    settings.EARMARK_LOGIN_MAX_FAILURES = 2
    client = Client()
    client.force_login(admin_user)
    wrong = {"old_password": "nope", "new_password1": "x", "new_password2": "x"}
    for _ in range(2):
        client.post("/admin/password_change/", wrong)
    text = client.post("/admin/password_change/", wrong).content.decode()
    assert "Too many wrong passwords for this account from your address" in text


def _change(client, old, new, **extra):
    return client.post(
        "/accounts/password_change/",
        {"old_password": old, "new_password1": new, "new_password2": new, **extra},
        follow=True,
    )


def test_a_password_change_revokes_the_users_api_tokens_when_asked(annotator, lead):
    """Tokens outlived a password change after a leak: the page offers to revoke them in the
    same step (only the user's own; unticked, they keep working, as the done page says)."""
    from labelapp.models import ApiToken
    from labelapp.services.tokens import api_token_authenticate, api_token_create

    annotator.set_password("old-secret-123")
    annotator.save()
    _, key_a = api_token_create(user=annotator, name="ingest")
    _, key_b = api_token_create(user=annotator, name="export")
    _, other = api_token_create(user=lead, name="lead's script")
    from rest_framework.authtoken.models import Token

    drf = Token.objects.create(user=annotator)
    client = Client()
    client.force_login(annotator)
    page = client.get("/accounts/password_change/").content.decode()
    assert "Also revoke my 3 API tokens" in page
    kept = _change(client, "old-secret-123", "a-much-better-passphrase-42").content.decode()
    assert "Your 3 API tokens work" in kept
    assert api_token_authenticate(key_a) is not None
    # A wrong old password revokes nothing, and the box stays ticked.
    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": "x", "new_password2": "x", "revoke_tokens": "on"},
    ).content.decode()
    assert 'name="revoke_tokens" data-testid="revoke-tokens" checked' in wrong
    assert ApiToken.objects.filter(user=annotator, revoked_at=None).count() == 2
    assert Token.objects.filter(pk=drf.pk).exists()
    done = _change(
        client, "a-much-better-passphrase-42", "another-good-passphrase-77", revoke_tokens="on"
    ).content.decode()
    assert "Your 3 API tokens are revoked" in done
    assert not Token.objects.filter(user=annotator).exists()
    assert Client().get("/api/projects/", HTTP_AUTHORIZATION=f"Token {drf.key}").status_code == 401
    assert api_token_authenticate(key_a) is None and api_token_authenticate(key_b) is None
    assert api_token_authenticate(other) is not None
    # A reload says the same (it said they keep working); no tokens, no box, and no word.
    assert (
        "Your 3 API tokens are revoked"
        in client.get("/accounts/password_change/done/").content.decode()
    )
    assert "revoke_tokens" not in client.get("/accounts/password_change/").content.decode()
    # Said for a while, not for good: a token made since is one that works.
    api_token_create(user=annotator, name="new script")
    later = client.session
    later["earmark_tokens_revoked"] = [3, later["earmark_tokens_revoked"][1] - 3600]
    later.save()
    page = client.get("/accounts/password_change/done/").content.decode()
    assert "revoked" not in page and "Your 1 API token works" in page
    from labelapp.models import ApiToken as Tokens

    Tokens.objects.filter(user=annotator, revoked_at=None).update(revoked_at=timezone.now())
    done = _change(client, "another-good-passphrase-77", "a-third-passphrase-99").content.decode()
    said = done[done.index('data-testid="password-changed"') :]
    assert "API token" not in said[: said.index("</p>")]
