"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost, PermissionDenied


class RefusalWithoutTraceback(logging.Filter):
    """A page refused to a member whose role does not allow it (PermissionDenied, answered 403)
    is an expected answer, not a fault: Django logs it with the exception's traceback, which
    buried real errors in the log. The warning line stays; the traceback goes. So does a
    request for a host not in ALLOWED_HOSTS (scanners send them all day: 14 lines at ERROR
    each), which stays one line, as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = record.exc_info[1] if record.exc_info else None
        if isinstance(refused, PermissionDenied | DisallowedHost):
            record.exc_info = None
            record.exc_text = None
        if isinstance(refused, DisallowedHost) and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        # The health check's 503 is its answer, said in its body and to the prober: a probe
        # every 10 s through an outage wrote a line at ERROR each (and paged whoever watches
        # errors) for what the checks' own warnings already say.
        request = getattr(record, "request", None)
        if (
            getattr(record, "status_code", None) == 503
            and getattr(request, "path", "") == "/healthz"
            and record.levelno > logging.WARNING
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
