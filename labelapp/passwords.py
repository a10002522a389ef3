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


# The session remembers, per user, that they have no first password to change: one query a
# session, not one a request.
CHECKED_KEY = "earmark-first-password-checked"
# What a person with a first password to change may still open: the page that changes it,
# signing out, and what those pages load.
OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/favicon.ico", "/admin/password_change/")


def first_password_pending(user) -> bool:
    """Whether `user` still has the password someone else chose for them."""
    from labelapp.models import PasswordToChange

    return PasswordToChange.objects.filter(user_id=user.pk).exists()


def session_held(session, user) -> bool:
    """Whether a session of `user` is held on the password page: asked of the database once a
    session, remembered once it is not (an account's hold is made with it, never later)."""
    if session.get(CHECKED_KEY) == user.pk:
        return False
    if first_password_pending(user):
        return True
    session[CHECKED_KEY] = user.pk
    return False


def first_password_done(request) -> None:
    """The user chose their own password: nothing holds them on the password page any more."""
    from labelapp.models import PasswordToChange

    PasswordToChange.objects.filter(user_id=request.user.pk).delete()
    request.session[CHECKED_KEY] = request.user.pk


# The API's side of the hold is its session authentication's
# (labelapp.authentication.HeldSessionAuthentication); its docs page is a page.
API_PREFIXES = ("/api/", "/ml/")


class FirstPasswordMiddleware:
    """A person signed in with a password someone else chose (a lead made their account)
    changes it before anything else: a page takes them to the password page. An API call
    with the session answers 403 `password_change_required` from the API's session
    authentication, which alone knows whether the session is what authenticates a call (an
    API key, made by its owner after signing in, is never held)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and (not request.path.startswith(API_PREFIXES) or request.path.startswith("/api/docs"))
            and session_held(request.session, user)
        ):
            return self._held(request)
        return self.get_response(request)

    @staticmethod
    def _held(request):
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        change = reverse("password_change")
        return redirect(f"{change}?{urlencode({'first': 1, 'next': request.get_full_path()})}")
