"""API authentication by personal token (`labelapp.services.tokens`).

`Authorization: Token <key>` or `Authorization: Bearer <key>`. A `Token` header whose key is
not one of ours (no `em_` prefix) is left to DRF's TokenAuthentication, which still serves
keys made with `manage.py drf_create_token`.
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
        if keyword == "token" and not raw_key.startswith(KEY_PREFIX):
            return None
        token = api_token_authenticate(raw_key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"
