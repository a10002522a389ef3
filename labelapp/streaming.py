"""HTTP Range responses for stored audio: 206 Partial Content, so playback starts at once."""

from __future__ import annotations

import re

from django.http import HttpResponse, StreamingHttpResponse

CHUNK = 64 * 1024  # bytes per streamed chunk
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

CONTENT_TYPES = {
    "AIFF": "audio/aiff",
    "CAF": "audio/x-caf",
    "AU": "audio/basic",
    "W64": "audio/x-w64",
    "WAV": "audio/wav",
    "WAVEX": "audio/wav",
    "FLAC": "audio/flac",
    "OGG": "audio/ogg",
    "MP3": "audio/mpeg",
}


class Malformed(ValueError):
    """A Range header that is not a byte range: ignored, as HTTP says (the whole file)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte positions, inclusive; None when unsatisfiable (416); Malformed when
    the header is not a byte range at all ("bytes=abc"), which a server ignores."""
    match = _RANGE.match(header.strip().split(",")[0].strip())
    if not match:
        raise Malformed(header)
    first_raw, last_raw = match.groups()
    if not first_raw and not last_raw:
        raise Malformed(header)
    if not first_raw:  # suffix range: the last N bytes
        length = int(last_raw)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    first = int(first_raw)
    last = int(last_raw) if last_raw else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


def _none_match(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): a listed tag, W/ or not, or *."""
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return f'"{etag}"' in tags or "*" in tags


def _chunks(fileobj, first: int, length: int):
    try:
        fileobj.seek(first)
        remaining = length
        while remaining > 0:
            block = fileobj.read(min(CHUNK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    finally:
        fileobj.close()


def ranged_response(
    request,
    fileobj,
    *,
    size: int,
    content_type: str,
    etag: str,
    filename: str,
    weak: bool = False,
) -> HttpResponse:
    """`fileobj`'s bytes, whole or the range asked. A `weak` ETag says the bytes are the same
    audio but not always the same bytes (an MP3 decoded in blocks differs by one in a few
    samples between a whole read and a range's), so caches do not splice ranges of two answers
    under it, and an If-Range, which compares strongly, never matches it."""
    common = {
        "Accept-Ranges": "bytes",
        "ETag": f'W/"{etag}"' if weak else f'"{etag}"',
        # Content never changes under a given clip id (the file is stored untouched).
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{filename}"',
    }
    if _none_match(request.META.get("HTTP_IF_NONE_MATCH", ""), etag):
        fileobj.close()
        return _headed(HttpResponse(status=304), common)
    header = request.META.get("HTTP_RANGE")
    if_range = request.META.get("HTTP_IF_RANGE", "").strip()
    if header and if_range and (weak or if_range != f'"{etag}"'):
        # RFC 9110 13.1.5: a validator that does not match (another ETag, a weak one, or a
        # date, which this ETag never matches) asks for the whole, current file.
        header = None
    span = None
    try:
        span = parse_range(header, size) if header else None
    except Malformed:
        header = None  # answered as if absent: the whole file, 200
    if header and span is None:
        fileobj.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _headed(response, common)
    first, last = span if header else (0, size - 1)
    status = 206 if header else 200
    if request.method == "HEAD":
        # Headers only: streaming the body for Django to drop decoded a whole hour of MP3 on
        # the server for nothing (3.7 s of CPU a HEAD).
        fileobj.close()
        response = HttpResponse(status=status, content_type=content_type)
    else:
        response = StreamingHttpResponse(
            _chunks(fileobj, first, last - first + 1), status=status, content_type=content_type
        )
    if header:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(last - first + 1)
    return _headed(response, common)


def _headed(response: HttpResponse, headers: dict) -> HttpResponse:
    for key, value in headers.items():
        response[key] = value
    return response
