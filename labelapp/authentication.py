"""API authentication by personal token (`labelapp.services.tokens`).

`Authorization: Token <key>` or `Authorization: Bearer <key>`. A key that is not one of ours
(no `em_` prefix) is DRF's, made with `manage.py drf_create_token`: a `Token` header with one
is left to DRF's TokenAuthentication, a `Bearer` header is checked against DRF's keys here.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions

from labelapp.services.tokens import KEY_PREFIX, api_token_authenticate

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        keyword = header[0].decode(errors="replace").lower()
        if len(header) != 2:
            if keyword == "bearer":
                raise exceptions.AuthenticationFailed("Authorization: Bearer <key>, one key")
            return None  # DRF's TokenAuthentication explains the malformed header
        try:
            raw_key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("the token contains invalid characters") from None
        if not raw_key.startswith(KEY_PREFIX):
            if keyword == "token":
                return None
            return authentication.TokenAuthentication().authenticate_credentials(raw_key)
        token = api_token_authenticate(raw_key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"


def by_key(request) -> bool:
    """Whether the request was authenticated by a key (ours or DRF's), not a signed-in session."""
    return isinstance(
        request.successful_authenticator,
        ApiTokenAuthentication | authentication.TokenAuthentication,
    )


class PasswordChangeRequired(exceptions.PermissionDenied):
    default_detail = (
        "choose your own password first: your account's first password was set by someone "
        "else (/accounts/password_change/)"
    )
    default_code = "password_change_required"


class HeldSessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, refusing a session whose user still has the first
    password someone else chose (labelapp.passwords): the API's side of the hold pages get
    from FirstPasswordMiddleware. Here, not in the middleware: a request the session does not
    authenticate (an API key, Basic auth) is not the session's to hold, and a header no
    authenticator takes falls back to the session, held."""

    def authenticate(self, request):
        from labelapp.passwords import session_held

        result = super().authenticate(request)
        if result is not None and session_held(request._request.session, result[0]):
            raise PasswordChangeRequired()
        return result
