"""One error type for domain rules, mapped once to a 4xx with a clear message."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


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


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        else:
            detail = " ".join(exc.messages)
        return Response({"detail": detail, "code": "invalid"}, status=400)
    return drf_exception_handler(exc, context)
