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


def first_password_done(request) -> None:
    """The user chose their own password: nothing holds them on the password page any more."""
    from labelapp.models import PasswordToChange

    PasswordToChange.objects.filter(user_id=request.user.pk).delete()
    request.session[CHECKED_KEY] = request.user.pk


class FirstPasswordMiddleware:
    """A person signed in with a password someone else chose (a lead made their account)
    changes it before anything else: a page takes them to the password page, an API call
    with the session answers 403 `password_change_required`. API keys are made by their
    owner after signing in, so a key's calls are never held."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.session.get(CHECKED_KEY) != user.pk
            and not request.path.startswith(OPEN_PREFIXES)
            # A call with credentials of its own (an API key, Basic auth) is theirs to judge:
            # a held session's cookie riding along does not refuse a lead's key.
            and "HTTP_AUTHORIZATION" not in request.META
        ):
            if first_password_pending(user):
                return self._held(request)
            request.session[CHECKED_KEY] = user.pk
        return self.get_response(request)

    @staticmethod
    def _held(request):
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode

        change = reverse("password_change")
        if request.path.startswith(("/api/", "/ml/")) and not request.path.startswith("/api/docs"):
            return JsonResponse(
                {
                    "detail": "choose your own password first: your account's first password "
                    f"was set by someone else ({change})",
                    "code": "password_change_required",
                },
                status=403,
            )
        return redirect(f"{change}?{urlencode({'first': 1, 'next': request.get_full_path()})}")
