"""A request body over what its endpoint can take is refused from its Content-Length, before
a byte of it is read.

Django writes multipart file parts to a temporary file as they arrive, on every endpoint that
parses forms (every API view, and the login page, whose CSRF check reads the form), and sizes
are checked after: a 300 MB body posted to the login page without an account was written to
/tmp in full before its 403. Limits by route: the upload endpoint takes
EARMARK_MAX_UPLOAD_REQUEST_BYTES (its files together: by default one file of the largest size
and the form; the browser sends one file a request), an ontology import and a labels file
their file limits, and everything else what DATA_UPLOAD_MAX_MEMORY_SIZE allows. Under WSGI
(gunicorn, runserver) the body is read only when a view asks for it, so this answers before
any of it is.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse

UPLOAD_ROUTE = re.compile(r"^/api/projects/\d+/clips/$")
ONTOLOGY_IMPORT_ROUTE = re.compile(r"^/api/projects/\d+/ontology/import/$")
LABELS_IMPORT_ROUTE = re.compile(r"^/api/projects/\d+/label-imports/$")
# Multipart boundaries, headers and the small fields beside the files.
SLACK = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def _sizes(sent: int, limit: int) -> tuple[str, str]:
    """Both sizes, in bytes when rounding would make them read the same ("3.5 MB is over the
    3.5 MB")."""
    a, b = _mb(sent), _mb(limit)
    return (a, b) if a != b else (f"{sent:,} bytes", f"{limit:,} bytes")


def body_limit(path: str) -> int:
    if UPLOAD_ROUTE.match(path):
        return settings.EARMARK_MAX_UPLOAD_REQUEST_BYTES
    if ONTOLOGY_IMPORT_ROUTE.match(path):
        from ontology.formats import MAX_BYTES

        return MAX_BYTES + SLACK
    if LABELS_IMPORT_ROUTE.match(path):
        from labelapp.services.label_imports import MAX_LABELS_FILE_BYTES

        return MAX_LABELS_FILE_BYTES + SLACK
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE + SLACK


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.META.get("CONTENT_LENGTH") or ""
        if sent.isascii() and sent.isdigit():
            limit = body_limit(request.path)
            if int(sent) > limit:
                size, most = _sizes(int(sent), limit)
                detail = (
                    f"the request body ({size}) is over the {most} this address takes; "
                    "send less in one request"
                )
                if ONTOLOGY_IMPORT_ROUTE.match(request.path):
                    from ontology.formats import MAX_BYTES

                    size, most = _sizes(int(sent), MAX_BYTES)
                    detail = (
                        f"the label tree file ({size}) is larger than the {most} an import "
                        "takes: split it, or leave out the descriptions"
                    )
                if UPLOAD_ROUTE.match(request.path):
                    detail += (
                        f" (files of at most {_mb(settings.EARMARK_MAX_UPLOAD_BYTES)} each, as "
                        "many a request as fit: large ones one a request)"
                    )
                if request.path.startswith(("/api/", "/ml/")):
                    return JsonResponse({"detail": detail, "code": "too_large"}, status=413)
                return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
