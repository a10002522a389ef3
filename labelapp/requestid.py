"""A request id for each request: in the response (`X-Request-ID`), in every log line written
while the request runs, and on the error pages, so that an access log's line, a traceback and
a user's "it said error" meet. A proxy's own `X-Request-ID` is kept when it looks like one."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver
from django.shortcuts import render

_current: contextvars.ContextVar[str] = contextvars.ContextVar("earmark_request_id", default="-")
_GIVEN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current() -> str:
    """The id of the request this code runs for ("-" outside a request)."""
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        rid = given if _GIVEN.match(given) else uuid.uuid4().hex[:16]
        request.request_id = rid
        # Not reset on the way out: Django logs a 4xx or 5xx answer ("Not Found: /api/...")
        # after the middleware has returned, and that line should carry the id too; it is
        # reset when the response is done (`request_finished`), or the next request on this
        # thread that does not pass the middleware (runserver's static files) took it.
        _current.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Gives every record `request_id` (the formatter prints it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


@receiver(request_finished)
def _request_done(**_) -> None:
    _current.set("-")


def server_error(request, *args, **kwargs):
    """The 500 page, with the request's id to quote to whoever runs the server. The API's
    answer is JSON like its other errors (a client reading `detail` got an HTML page)."""
    rid = getattr(request, "request_id", current())
    if request.path.startswith(("/api/", "/ml/")):
        from django.http import JsonResponse

        return JsonResponse(
            {
                "detail": f"the server failed (request id {rid}): try again, and if it goes "
                "on, give the id to whoever runs the server",
                "code": "server_error",
                "request_id": rid,
            },
            status=500,
        )
    return render(request, "500.html", {"request_id": rid}, status=500)


def bad_request(request, exception, *args, **kwargs):
    """The 400 page; a host name the server does not answer for says so (it said the request
    was "too large or malformed")."""
    from django.core.exceptions import DisallowedHost

    return render(
        request,
        "400.html",
        {"bad_host": isinstance(exception, DisallowedHost)},
        status=400,
    )
