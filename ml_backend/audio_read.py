"""Reading a span of an open SoundFile so that every format gives what one read of the whole
file gives there. Pure: numpy, soundfile and the standard library (labelapp.audio uses it too).

MP3 needs care. A frame takes part of its data from the frames before it (the bit reservoir:
up to 511 bytes, six frames at low bitrates), and libsndfile (1.2.2, bundled with soundfile
0.14) loses that reservoir not only at a seek but at every read call: on a VBR file read in
blocks, the two frames after each block boundary come out wrong (a 300 Hz sine at `-q:a 6`
read in 8,192-frame blocks: 31% of the samples off by up to 0.16). libmpg123 prints an error
for each such frame. One seek followed by one read is exact from its MP3_PREROLL-th frame on,
so an MP3 span is read as one read from MP3_PREROLL frames before it, and the extra frames
are thrown away. An Ogg Vorbis span likewise from VORBIS_PREROLL frames before it (its seeks
land wrong). Other formats read as they are.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

import numpy as np
import soundfile as sf

MP3_PREROLL = 8192  # frames: 7 MPEG-1 frames, 14 MPEG-2 frames (4,608 was the least exact)
# Ogg Vorbis: libsndfile's seek lands wrong at 4-24% of random places (a 440 Hz sine in
# noise, ffmpeg's encoder at 8-48 kHz: 7 to 48 of 200 seeks, up to 0.9 off; worst in the last
# seconds of a file), and a read just after a good seek can miss a block's overlap with the
# one before. Read from 65,536 frames before, none of 1,000 was off; 131,072 for margin (a
# file of libsndfile's own encoder needed more than 65,536 once in 40).
VORBIS_PREROLL = 131072
# What libmpg123 prints about the frames read before a span (to the process's stderr, fd 2).
_DECODER_NOISE = (b"[src/libmpg123/",)
_STDERR_LOCK = threading.Lock()
_quiet = threading.local()


def is_mp3(snd: sf.SoundFile) -> bool:
    return snd.format == "MP3"


@contextlib.contextmanager
def decoder_quiet(snd: sf.SoundFile) -> Iterator[None]:
    """Around MP3 reads: what libmpg123 prints to fd 2 is dropped; anything else written to
    stderr meanwhile (another thread's log line) is passed on when the block ends. Nested
    blocks of one thread share the outer one's capture. A no-op for other formats, and where
    fd 2 cannot be redirected (a process started without it: see `_redirect_fd2`)."""
    if not is_mp3(snd) or getattr(_quiet, "depth", 0):
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        saved = _redirect_fd2(capture)
        _quiet.depth = 1  # also when not redirected: a nested block must not take the lock
        try:
            yield
        finally:
            _quiet.depth = 0
            if saved is not None:
                _restore_fd2(saved, capture)


def _redirect_fd2(capture) -> int | None:
    """Point fd 2 at `capture`; returns a copy of what it was, or None (nothing changed)
    where it cannot be: a process started without fd 2 has no sys.__stderr__, and there the
    number may name any file opened since (the audio being read, a socket)."""
    if sys.__stderr__ is None:
        return None
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # fd 2 closed since, or sys.stderr closed
        return None
    try:
        os.dup2(capture.fileno(), 2)
    except OSError:
        os.close(saved)
        return None
    return saved


def _restore_fd2(saved: int, capture) -> None:
    """Point fd 2 back at `saved` (closed here) and pass on what `capture` caught that is
    not the decoder's."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    kept = b"".join(line for line in capture if not line.startswith(_DECODER_NOISE))
    if kept:
        with contextlib.suppress(OSError):
            os.write(2, kept)


def preroll(snd: sf.SoundFile) -> int:
    """Frames to read before a span so that it comes out as one read of the whole file."""
    if is_mp3(snd):
        return MP3_PREROLL
    return VORBIS_PREROLL if snd.format == "OGG" and snd.subtype == "VORBIS" else 0


def read_at(snd: sf.SoundFile, start: int, count: int) -> np.ndarray:
    """float32 (frames, channels): `count` frames from frame `start` (fewer at the end of
    the stream), as one read of the whole file has them. Leaves the file positioned after
    them. MP3 and Ogg Vorbis: one seek and one read from `preroll` frames earlier (an MP3's
    quietly)."""
    before = preroll(snd)
    if not before:
        snd.seek(start)
        return snd.read(count, dtype="float32", always_2d=True)
    first = max(0, start - before)
    with decoder_quiet(snd):
        snd.seek(first)
        data = snd.read(start - first + count, dtype="float32", always_2d=True)
    return data[start - first :]


def iter_spans(
    snd: sf.SoundFile, start: int, count: int | None, block: int
) -> Iterator[np.ndarray]:
    """float32 (frames, channels) blocks of at most `block` frames covering `count` frames
    from `start` (None: to the end of the stream, whatever the header says; an MP3's frame
    count is an estimate), each read with `read_at`."""
    pos = start
    while count is None or pos < start + count:
        want = block if count is None else min(block, start + count - pos)
        data = read_at(snd, pos, want)
        if len(data) == 0:
            return
        pos += len(data)
        yield data
        if len(data) < want:
            return
