"""Reading part of a stored file without fetching all of it.

django-storages' S3File downloads the whole object (into a temporary file) on its first read.
The audio endpoint answers Range requests, the waveform's deep zoom decodes a few
milliseconds, a spectrogram decodes its window and the workspace reads one level of the
peaks: with S3File each of them would fetch the whole recording first, up to the upload
limit, for every request. `media_open` gives those readers a seekable file that fetches only
what they read, by HTTP Range; files of other storages (the local disk) come back as opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

from django.core.files.storage import FileSystemStorage, default_storage

from labelapp.audio._util import SeekableReader

# Bytes one GET fetches at least: a read of a few bytes (a header, a 100-byte Range) costs
# one round trip, not one per read call.
MIN_FETCH = 64 * 1024
# Reads that go on where the last one ended double the next fetch up to this, so streaming
# a whole recording takes few round trips and memory stays bounded.
MAX_FETCH = 4 * 1024 * 1024


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a failing media store raises: OSError for a disk, botocore's errors for S3 (a
    missing bucket, an endpoint nobody answers at), which are not OSErrors: an upload to a
    bucket that did not exist was a 500, its import job left running for a day."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # the s3 extra is not installed
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


STORE_ERRORS = _store_errors()


MEDIA_UNAVAILABLE = "the media store is not answering; try again in a minute"


class MediaUnavailable(OSError):
    """The media store did not answer (an S3 endpoint down or timing out, its 5xx): a 503 to
    try again, not a missing file (an outage was answered "missing from the media store")."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(MEDIA_UNAVAILABLE)
        self.detail = detail  # for the logs: it names the endpoint, the bucket and the key


CLIPS_DIR = "clips"  # the media folder's folder of imported originals (storage_name_for)


def local_store_gone() -> bool:
    """A media folder that is not there at all (moved away), or that is there without the
    clips folder every import writes into while clips were imported (an empty mount point:
    its volume not mounted): an outage, not a file lost; a clip processed meanwhile failed for
    good, and a write made the store anew on the disk beneath."""
    from django.core.files.storage import default_storage

    location = getattr(default_storage, "location", None)
    if not location:
        return False
    if not os.path.isdir(location):
        return True
    if os.path.isdir(os.path.join(location, CLIPS_DIR)):
        return False
    from labelapp.models import Clip

    return Clip.objects.filter(file__startswith=f"{CLIPS_DIR}/").exists()


def media_store_present() -> None:
    """MediaUnavailable when the media folder that holds the clips is not there
    (`local_store_gone`): a write would make it anew on the disk beneath (an upload during an
    outage re-created the folder with its one file, and the clips waiting for the real one
    then failed as lost). A new installation's first upload makes it (no clip yet: nothing to
    have lost)."""
    if local_store_gone():
        from labelapp.models import Clip

        if Clip.objects.exists():
            raise MediaUnavailable("the media folder is not there")


class GuardedFileSystemStorage(FileSystemStorage):
    """The media folder as a store that refuses to write while the folder is not there at
    all: any save (an upload, an export, a model, peaks) made the folder anew on the disk
    beneath, and the outage turned into "missing" files and a split store."""

    def _save(self, name, content):
        media_store_present()
        return super()._save(name, content)


def store_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store did not answer, rather than refused or lacked the file."""
    if isinstance(exc, MediaUnavailable):
        return True
    try:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as StoreConnectionError
    except ImportError:
        return False
    if isinstance(exc, StoreConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code >= 500 or code == 429
    return False


def store_error_reason(exc: BaseException) -> str:
    """What to tell a user of a store's failure: not the endpoint, bucket and key botocore's
    messages carry (an upload's report showed them)."""
    if store_unavailable(exc):
        return MEDIA_UNAVAILABLE
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        BotoCoreError = ClientError = ()  # noqa: N806 - no S3: nothing is one
    if isinstance(exc, ClientError):
        return f"the media store refused it ({exc.response.get('Error', {}).get('Code', '?')})"
    if isinstance(exc, BotoCoreError):
        return f"the media store failed ({type(exc).__name__})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def media_open(name: str) -> BinaryIO:
    """The stored file `name`, opened for reading parts of it (seek and read).

    FileNotFoundError (an OSError) when it is missing, as `default_storage.open` raises;
    MediaUnavailable (an OSError too) when the store does not answer."""
    try:
        fileobj = default_storage.open(name, "rb")
        obj = _s3_object(fileobj)
        if obj is None:
            return fileobj
        size = obj.content_length
    except FileNotFoundError as exc:
        if local_store_gone():  # the whole folder: an outage, not this file lost
            raise MediaUnavailable(f"{name}: the media folder is not there") from exc
        raise
    except STORE_ERRORS as exc:
        if store_unavailable(exc):
            raise MediaUnavailable(f"{name}: {exc}") from exc
        raise
    return RangedObjectReader(obj, size=size, on_close=fileobj.close)


def _s3_object(fileobj) -> object | None:
    """The boto3 Object behind a django-storages S3File (loaded: its size is known)."""
    try:
        from storages.backends.s3 import S3File
    except ImportError:  # the s3 extra is not installed: no S3 files
        return None
    return fileobj.obj if isinstance(fileobj, S3File) else None


class RangedObjectReader(SeekableReader):
    """A read-only, seekable file over an S3 object that fetches what is read with Range GETs.

    Keeps the last fetched span: reads inside it cost nothing, a read right after it fetches
    twice as much as the last time (up to MAX_FETCH), any other read starts at MIN_FETCH
    again. A read returns as many bytes as asked for, fewer only at the end of the object."""

    def __init__(self, obj, *, size: int, on_close: Callable[[], None] | None = None) -> None:
        super().__init__(size, on_close=on_close)
        self._obj = obj
        self._start = 0  # offset of `_data` in the object
        self._data = b""
        self._fetch_size = MIN_FETCH

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:
            offset = self._pos - self._start
            if not 0 <= offset < len(self._data):
                self._fetch(len(view) - done)
                offset = 0
            n = min(len(view) - done, len(self._data) - offset)
            view[done : done + n] = self._data[offset : offset + n]
            done += n
            self._pos += n
        return done

    def _fetch(self, wanted: int) -> None:
        follows = bool(self._data) and self._pos == self._start + len(self._data)
        self._fetch_size = min(2 * self._fetch_size, MAX_FETCH) if follows else MIN_FETCH
        last = min(self._pos + max(wanted, self._fetch_size), self.size) - 1
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self._obj.get(Range=f"bytes={self._pos}-{last}")["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except (BotoCoreError, ClientError) as exc:
            if store_unavailable(exc):
                raise MediaUnavailable(f"{self._obj.key}: {exc}") from exc
            raise OSError(f"could not read {self._obj.key} from the media store: {exc}") from exc
        if not data:  # shorter than its size said: replaced while being read
            raise OSError(f"{self._obj.key} ended at byte {self._pos} of {self.size}")
        self._start, self._data = self._pos, data

    def _closing(self) -> None:
        self._data = b""
