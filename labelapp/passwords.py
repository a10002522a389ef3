"""Password rules beyond Django's own (settings.AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class NotOnlySpaceValidator:
    """A password of spaces (any kind: tabs, no-break, full-width) passed Django's checks, on
    the Password page, the Members page and `add_member`."""

    def validate(self, password: str, user=None) -> None:
        if not password.strip():
            raise ValidationError("This password is only spaces.", code="password_only_spaces")

    def get_help_text(self) -> str:
        return "Your password can't be only spaces."
