"""Personal API tokens: a user creates named keys for scripts and revokes them. The key is
shown once; only its SHA-256 is stored, so a leaked database leaks no usable key."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labelapp.errors import DomainError, NotFound
from labelapp.models import ApiToken

# Keys carry a recognisable prefix so the authentication class can tell them from DRF's
# legacy `authtoken` keys (40 hex characters) and secret scanners can spot a pasted one.
KEY_PREFIX = "em_"
PREFIX_SHOWN = 10  # characters of the key kept in clear to tell tokens apart in lists
MAX_ACTIVE_TOKENS = 50
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the raw key, which is never readable again."""
    name = (name or "").strip()
    if not name:
        raise DomainError("a token needs a name, e.g. the script that will use it")
    if len(name) > 100:
        raise DomainError("a token name is at most 100 characters")
    active = ApiToken.objects.filter(user=user, revoked_at=None).count()
    if active >= MAX_ACTIVE_TOKENS:
        raise DomainError(
            f"you have {active} active tokens; revoke some before creating more",
            code="too_many_tokens",
        )
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name, prefix=raw_key[:PREFIX_SHOWN], key_hash=key_hash(raw_key)
    )
    token.full_clean()
    token.save()
    return token, raw_key


def api_token_for_user(user, token_id) -> ApiToken:
    """One of `user`'s own tokens; anyone else's is 404."""
    try:
        return ApiToken.objects.get(pk=int(token_id), user=user)
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise NotFound("token not found") from None


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token at once; revoking it again changes nothing."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_tokens_active_count(*, user) -> int:
    """`user`'s live keys: personal tokens and the one `manage.py drf_create_token` makes."""
    from rest_framework.authtoken.models import Token

    live = ApiToken.objects.filter(user=user, revoked_at=None).count()
    return live + Token.objects.filter(user=user).count()


@transaction.atomic
def api_tokens_revoke_all(*, user) -> int:
    """Revoke every live key of `user` (a password change that may follow a leak), DRF's
    included (deleted: it has no revoked state); how many were live."""
    from rest_framework.authtoken.models import Token

    revoked = ApiToken.objects.filter(user=user, revoked_at=None).update(revoked_at=timezone.now())
    deleted, _ = Token.objects.filter(user=user).delete()
    return revoked + deleted


def api_token_authenticate(raw_key: str) -> ApiToken | None:
    """The live token with this key (its user active), or None. Marks it used, writing at
    most once a minute per token so that busy scripts do not turn every read into a write."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=key_hash(raw_key), revoked_at=None)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at=None) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
