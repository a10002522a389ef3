"""The server log: each record once, and a page refused for a member's role without a
traceback (an expected 403 is not a fault); other errors keep theirs."""

from __future__ import annotations

import io
import logging
import sys

from django.core.exceptions import DisallowedHost, PermissionDenied

from labelapp.logfilters import RefusalWithoutTraceback


def _record(exc: Exception) -> logging.LogRecord:
    try:
        raise exc
    except type(exc):
        info = sys.exc_info()
    return logging.LogRecord("django.request", logging.WARNING, __file__, 1, "refused", (), info)


def test_a_refusal_loses_its_traceback_and_an_error_keeps_it():
    formatter = logging.Formatter("%(message)s")
    refused = _record(PermissionDenied("your role in this project does not allow this"))
    assert RefusalWithoutTraceback().filter(refused) is True
    assert formatter.format(refused) == "refused"
    broken = _record(ValueError("a bug"))
    assert RefusalWithoutTraceback().filter(broken) is True
    assert "Traceback" in formatter.format(broken) and "ValueError: a bug" in formatter.format(
        broken
    )


def test_a_request_for_another_host_is_one_warning_line():
    """Scanners send them all day: each was 14 lines at ERROR."""
    record = _record(DisallowedHost("Invalid HTTP_HOST header: '1.2.3.4'."))
    record.levelno, record.levelname = logging.ERROR, "ERROR"
    assert RefusalWithoutTraceback().filter(record) is True
    assert logging.Formatter("%(levelname)s %(message)s").format(record) == "WARNING refused"


def test_djangos_records_are_written_once_by_the_roots_handler():
    django_logger = logging.getLogger("django")
    assert django_logger.handlers == [] and django_logger.propagate
    filtered = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RefusalWithoutTraceback) for f in handler.filters)
    ]
    assert filtered, "the console handler lost its filter"
    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(own)
    try:
        logging.getLogger("django.request").warning("Forbidden: /x/")
    finally:
        root.removeHandler(own)
    assert stream.getvalue().count("Forbidden: /x/") == 1
