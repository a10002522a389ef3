"""One error type for domain rules, mapped once to a 4xx with a clear message."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. `status` is the HTTP status the API answers with."""

    status = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}


class NotFound(DomainError):
    status = status.HTTP_404_NOT_FOUND
    code = "not_found"


class PermissionDenied(DomainError):
    status = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class Conflict(DomainError):
    status = status.HTTP_409_CONFLICT
    code = "conflict"


DB_RETRY_AFTER_S = 5
MEDIA_RETRY_AFTER_S = 30


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (restart, failover, lost connection): a transient state the
        # client should retry, not a bug. Submissions carry an Idempotency-Key, so a retry
        # of one whose commit did land is answered from it instead of being saved twice.
        logger.warning("database unavailable during %s: %s", _view_name(context), exc)
        response = Response(
            {
                "detail": "the database is unavailable for a moment; it is safe to retry this "
                "request (a submission with the same Idempotency-Key is saved at most once)",
                "code": "database_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(DB_RETRY_AFTER_S)
        return response
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status)
    from labelapp.media import MEDIA_UNAVAILABLE, store_unavailable

    if store_unavailable(exc):
        logger.warning(
            "media store unavailable during %s: %s",
            _view_name(context),
            getattr(exc, "detail", exc),
        )
        response = Response(
            {"detail": MEDIA_UNAVAILABLE, "code": "media_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(MEDIA_RETRY_AFTER_S)
        return response
    refused = _refused_body(exc, context)
    if refused is not None:
        return refused
    if isinstance(exc, DjangoValidationError):
        messages = exc.message_dict if hasattr(exc, "message_dict") else exc.messages
        return Response({"detail": _detail_line(messages), "code": "invalid"}, status=400)
    # Imported here: services import this module, and DRF's settings import the
    # authentication classes that use those services while rest_framework.views loads.
    from rest_framework.exceptions import ValidationError
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = _with_detail(response.data)
    elif response is not None and isinstance(response.data, dict) and "code" not in response.data:
        # DRF's own refusals (401, 403, 404, 405, a body that is not JSON) with the `code`
        # every other error answer has.
        response.data["code"] = getattr(exc, "default_code", "error")
    return response


def _refused_body(exc, context) -> Response | None:
    """Django's own limits on a request body, met while a view reads it: answered as JSON with
    a detail (Django would answer its plain 400 page, or with DEBUG on its debug page)."""
    from django.conf import settings
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    if isinstance(exc, RequestDataTooBig):
        request = (context or {}).get("request")
        sent = request.META.get("CONTENT_LENGTH") if request is not None else None
        size = (
            f" ({_mb(int(sent))})" if sent and str(sent).isascii() and str(sent).isdigit() else ""
        )
        limit = _mb(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        detail = (
            f"the request body{size} is over the {limit} limit for data other than files "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE); send less in one request"
        )
        code, answer = "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, TooManyFilesSent):
        detail = (
            f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files in one request "
            "(DATA_UPLOAD_MAX_NUMBER_FILES); send them in batches"
        )
        code, answer = "too_many_files", status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, TooManyFieldsSent):
        detail = (
            f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields in one request "
            "(DATA_UPLOAD_MAX_NUMBER_FIELDS)"
        )
        code, answer = "too_many_fields", status.HTTP_400_BAD_REQUEST
    else:
        return None
    return Response({"detail": detail, "code": code}, status=answer)


def _mb(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{n} bytes"


def _with_detail(data):
    """A serializer's field errors ({"segments": {"0": {"start": [...]}}}) with the one shape
    every other 4xx has: `detail`, one readable line naming each field's path, and `code`.
    The field keys stay, so a client reading them still can."""
    detail = _detail_line(data) or "invalid input"
    if isinstance(data, dict):
        if "detail" in data:
            return data
        return {**data, "detail": detail, "code": "invalid"}
    return {"detail": detail, "code": "invalid", "errors": data}


def _detail_line(data) -> str:
    """Errors by field ({"name": ["..."]}, nested or not) or a list of messages as one line:
    "name: ...; other.0.start: ..."."""
    return "; ".join(f"{path}: {text}" if path else text for path, text in _flatten(data, ""))


def _flatten(data, path: str):
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            yield from _flatten(value, f"{path}.{name}" if path and name else path or name)
    elif isinstance(data, list):
        if all(not isinstance(v, dict | list) for v in data):
            yield path, " ".join(str(v) for v in data)
        else:
            for i, value in enumerate(data):
                if value:  # a list serializer reports {} for the items that were fine
                    yield from _flatten(value, f"{path}.{i}" if path else str(i))
    else:
        yield path, str(data)


def _view_name(context) -> str:
    view = (context or {}).get("view")
    return type(view).__name__ if view is not None else "a request"
