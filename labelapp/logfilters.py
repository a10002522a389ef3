"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class RefusalWithoutTraceback(logging.Filter):
    """A page refused to a member whose role does not allow it (PermissionDenied, answered 403)
    is an expected answer, not a fault: Django logs it with the exception's traceback, which
    buried real errors in the log. The warning line stays; the traceback goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
