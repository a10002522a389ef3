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
        return True
