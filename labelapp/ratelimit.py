"""Failed log-ins are counted per username and client address; past the limit, that pair is
refused for the rest of the window, whichever way the password comes in (the login page,
the admin, basic auth on the Label Studio endpoints).

Counts live in the Django cache (Redis in production, a file cache by default), so every web
process sees the same count. A cache outage never locks anybody out: it fails open, logged.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import PasswordChangeDoneView as DjangoPasswordChangeDoneView
from django.contrib.auth.views import PasswordChangeView
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

logger = logging.getLogger(__name__)


def _limit() -> int:
    return settings.EARMARK_LOGIN_MAX_FAILURES


def _window() -> int:
    return settings.EARMARK_LOGIN_FAILURE_WINDOW_S


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind EARMARK_TRUSTED_PROXIES proxies the
    address the outermost of them saw (X-Forwarded-For read from the right, as each proxy
    appends; what a client wrote there itself is further left and not trusted). Behind a TLS
    proxy every client had the proxy's address, so ten wrong passwords from anyone locked an
    account for everyone."""
    if request is None:
        return "-"
    remote = request.META.get("REMOTE_ADDR", "") or "-"
    proxies = settings.EARMARK_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    return hops[-proxies] if len(hops) >= proxies else remote


def _password_epoch(username: str) -> str:
    """A mark of the account's current password: a new password (an admin's reset) starts
    its counts afresh, as the refusal's advice says. Empty for an unknown username."""
    from django.contrib.auth import get_user_model

    User = get_user_model()  # noqa: N806
    field = f"{User.USERNAME_FIELD}__iexact"
    stored = User.objects.filter(**{field: username.strip()}).values_list("password", flat=True)
    first = stored.first() or ""
    return hashlib.sha256(first.encode()).hexdigest()[:12] if first else ""


def _key(username: str, address: str) -> str:
    # Hashed: usernames may hold any character, and cache keys must not.
    raw = f"{username.strip().lower()}|{address}|{_password_epoch(username)}".encode()
    return "earmark:login-failures:" + hashlib.sha256(raw).hexdigest()


def login_failures(username: str, address: str) -> int:
    try:
        return int(cache.get(_key(username, address)) or 0)
    except Exception as exc:  # the cache is down: never lock people out because of it
        logger.warning("login rate limit unavailable (cache): %s", exc)
        return 0


def login_failure_record(username: str, address: str) -> int:
    key = _key(username, address)
    try:
        # The window starts at the first failure and is not extended by later ones.
        cache.add(key, 0, timeout=_window())
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_window())
        return 1
    except Exception as exc:
        logger.warning("login rate limit unavailable (cache): %s", exc)
        return 0


def login_failures_clear(username: str, address: str) -> None:
    try:
        cache.delete(_key(username, address))
    except Exception as exc:
        logger.warning("login rate limit unavailable (cache): %s", exc)


def login_blocked(username: str | None, address: str) -> bool:
    return bool(username) and login_failures(username, address) >= _limit()


class RateLimitedModelBackend(ModelBackend):
    """Django's password check, refusing a username+address pair past the failure limit and
    counting each failure."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_username_field())
        address = client_address(request)
        if login_blocked(username, address):
            # PermissionDenied stops authenticate() from trying the next backend.
            raise PermissionDenied("too many failed log-in attempts")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if username:
            if user is None:
                login_failure_record(username, address)
            else:
                login_failures_clear(username, address)
        return user


def get_username_field() -> str:
    from django.contrib.auth import get_user_model

    return get_user_model().USERNAME_FIELD


def blocked_message() -> str:
    minutes = max(1, _window() // 60)
    return (
        "Too many failed log-in attempts for this account from your address. Try again in "
        f"{minutes} minutes, or ask an admin to reset your password."
    )


ADMIN_LOGIN_URL = "/admin/login/"


class LoginRateLimitMiddleware:
    """The login pages (the app's and the admin's) answer 429 with a clear message once a pair
    is over the limit (the backend alone would show the usual "did not match", for the right
    password too, which invites more guessing or a needless reset)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path in (settings.LOGIN_URL, ADMIN_LOGIN_URL):
            username = request.POST.get("username", "")
            if login_blocked(username, client_address(request)):
                return render(
                    request,
                    "registration/login.html",
                    {
                        "form": AuthenticationForm(request),
                        "next": request.POST.get("next", "")
                        or request.GET.get("next", "")
                        or ("/admin/" if request.path == ADMIN_LOGIN_URL else ""),
                        "rate_limited": blocked_message(),
                    },
                    status=429,
                )
        return self.get_response(request)


def password_change_form(request):
    """Django's password change form, whose old-password check counts as a log-in (it is
    one: the page told right and wrong passwords apart without a limit, so a borrowed
    session could find the password itself)."""
    from django.contrib.auth.forms import PasswordChangeForm
    from django.core.exceptions import ValidationError

    class Form(PasswordChangeForm):
        def clean_old_password(self):
            username = self.user.get_username()
            address = client_address(request)
            if login_blocked(username, address):
                minutes = max(1, _window() // 60)
                raise ValidationError(
                    f"Too many wrong passwords for this account from your address. Try again "
                    f"in {minutes} minutes.",
                    code="rate_limited",
                )
            try:
                value = super().clean_old_password()
            except ValidationError:
                login_failure_record(username, address)
                raise
            login_failures_clear(username, address)
            return value

        def clean(self):
            # The same password again changed nothing, and "changed" freed an account a lead
            # made from choosing its own (the lead still knew it).
            cleaned = super().clean()
            new, old = cleaned.get("new_password1"), cleaned.get("old_password")
            if new and old and new == old:
                self.add_error(
                    "new_password2",
                    ValidationError(
                        "That is the password you have now: choose another.",
                        code="password_same",
                    ),
                )
            return cleaned

    return Form


REVOKED_SESSION_KEY = "earmark_tokens_revoked"
DONE_FOR_S = 600  # how long the done page says what the change did to the tokens


class RateLimitedPasswordChangeView(PasswordChangeView):
    """Django's page, limited, and with a box that revokes the user's API tokens in the same
    step (a password changed after a leak leaves scripts' keys working otherwise)."""

    def get_form_class(self):
        return password_change_form(self.request)

    def get_success_url(self):
        # An account's first change goes on where its owner was going (a local path only);
        # the done page is for changes that may concern API tokens.
        if self._first_password_row() is not None:
            from django.utils.http import url_has_allowed_host_and_scheme

            wanted = self.request.POST.get("next") or self.request.GET.get("next") or ""
            if url_has_allowed_host_and_scheme(
                wanted, allowed_hosts={self.request.get_host()}, require_https=False
            ):
                return wanted
            from django.urls import reverse

            return reverse("home")
        return super().get_success_url()

    def get_context_data(self, **kwargs):
        from labelapp.services.tokens import api_tokens_active_count

        context = super().get_context_data(**kwargs)
        context["active_tokens"] = api_tokens_active_count(user=self.request.user)
        context["revoke_tokens"] = self.request.POST.get("revoke_tokens") == "on"
        context["first_password"] = self._first_password()
        return context

    def _first_password_row(self):
        from labelapp.models import PasswordToChange

        return PasswordToChange.objects.filter(user_id=self.request.user.pk).first()

    def _first_password(self):
        """Who set this account's password, when its owner has not chosen one yet: the page
        says why it came first, and where it goes on to. None otherwise."""
        row = self._first_password_row()
        if row is None:
            return None
        return {
            "by": row.set_by.get_username() if row.set_by_id else "an administrator",
            "next": self.request.GET.get("next") or self.request.POST.get("next") or "",
        }

    def form_valid(self, form):
        from django.db import transaction

        from labelapp.passwords import first_password_done
        from labelapp.services.tokens import api_tokens_revoke_all

        with transaction.atomic():
            response = super().form_valid(form)
            first_password_done(self.request)
            revoked = 0
            if self.request.POST.get("revoke_tokens") == "on":
                revoked = api_tokens_revoke_all(user=self.request.user)
        # What the change did, for its done page: read there for a few minutes, not taken
        # (a reload said the opposite of what happened), nor kept (a later visit said tokens
        # made since were revoked).
        self.request.session[REVOKED_SESSION_KEY] = [revoked, time.time()]
        return response


class PasswordChangeDoneView(DjangoPasswordChangeDoneView):
    """Says what the last change did to the API tokens: how many it revoked, or how many
    still work (nothing when there are none)."""

    def get(self, request, *args, **kwargs):
        from django.shortcuts import redirect

        from labelapp.passwords import first_password_pending

        if first_password_pending(request.user):  # "your password is changed": not yet
            return redirect("password_change")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        from labelapp.services.tokens import api_tokens_active_count

        context = super().get_context_data(**kwargs)
        said = self.request.session.get(REVOKED_SESSION_KEY)
        fresh = isinstance(said, list) and len(said) == 2 and time.time() - said[1] < DONE_FOR_S
        context["tokens_revoked"] = said[0] if fresh else 0
        context["tokens_live"] = api_tokens_active_count(user=self.request.user)
        return context
