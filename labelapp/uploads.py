"""Multipart parsing that keeps the file name a client sent, so the import report can refuse
a name with '..', slashes or broken UTF-8 by name instead of Django silently rewriting it.
The name never becomes a path: stored files are named by their content hash and a token."""

from __future__ import annotations

import html
import json

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

RAW_NAMES_FIELD = "__raw_names__"


class _NameKeepingParser(DjangoMultiPartParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw_names: dict[str, str] = {}

    def sanitize_file_name(self, file_name):
        raw = html.unescape(file_name or "")
        safe = super().sanitize_file_name(file_name)
        if safe == raw and safe:
            return safe
        token = f"rejected-name-{len(self.raw_names)}.bin"
        self.raw_names[token] = raw
        return token


class NameKeepingMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _NameKeepingParser(
                meta, stream, request.upload_handlers, parser_context.get("encoding", "utf-8")
            )
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        data = data.copy()
        data.pop(RAW_NAMES_FIELD, None)  # only the parser may set it
        if parser.raw_names:
            data[RAW_NAMES_FIELD] = json.dumps(parser.raw_names)
        return DataAndFiles(data, files)


def raw_names(request) -> dict[str, str]:
    try:
        return json.loads(request.data.get(RAW_NAMES_FIELD) or "{}")
    except (TypeError, ValueError):
        return {}
