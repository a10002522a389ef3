"""The embedded broker's messages are written whole before a worker can see them.

kombu's file-system transport creates a message's file and then writes it: a worker listing
the folder in between moved the empty (or half-written) file away, read it, and died on
`JSONDecodeError` with "Unrecoverable error", which stopped `make run` whole (a tester, under
load; celery/kombu#1551). Here a message is written under a name no reader takes (a leading
dot: its queue suffix does not match) and renamed into place, which is atomic on one file
system. Applied when the Celery app is made; other transports are untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


def _put_whole(self, queue, payload, **kwargs):
    """Put `payload` onto `queue`: written to a hidden name, then renamed to its own."""
    name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
    final = os.path.join(self.data_folder_out, name)
    partial = os.path.join(self.data_folder_out, f".{name}.part")
    try:
        with open(partial, "wb", buffering=0) as f:
            f.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def messages_written_whole() -> None:
    filesystem.Channel._put = _put_whole
