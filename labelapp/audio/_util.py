"""Small helpers shared by the audio modules: argument checks and bounded block reads.

Nothing here decodes more than `READ_BLOCK_SAMPLES` samples at a time, so callers can walk
any span of any file with memory bounded by that constant.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import soundfile as sf

from ml_backend.audio_read import iter_spans

# Largest block read from the decoder in one call, counted in samples over all channels
# (float32: 2 MiB). Multichannel files get proportionally fewer frames per block.
READ_BLOCK_SAMPLES = 1 << 19  # samples


class SeekableReader(io.RawIOBase):
    """A read-only, seekable file of `size` bytes: the subclass reads from `_pos` (its
    `readinto`, or `read`) and frees what it holds in `_closing`; `on_close` runs once, when
    it is closed (the stored file under it, say)."""

    def __init__(self, size: int, *, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.size = size
        self._pos = 0
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def _closing(self) -> None:
        """What the subclass holds, let go once."""

    def close(self) -> None:
        if not self.closed:
            try:
                self._closing()
            finally:
                if self._on_close is not None:
                    self._on_close()
        super().close()


def read_exact(fileobj: BinaryIO, size: int) -> bytes:
    """Read `size` bytes, looping over short reads (network-backed storage files may return
    fewer bytes than asked); returns fewer only at end of file."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = fileobj.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def check_int(name: str, value: object, low: int, high: int) -> int:
    """`value` as an int in [low, high]; ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def check_window(start: float, end: float, duration: float) -> tuple[float, float]:
    """Validate a time window in seconds and clamp its end to `duration` (seconds).

    Returns (start, end) with 0 <= start < end <= duration. Raises ValueError for a negative
    or non-finite start, an end not after start, or a start at or past the end of the audio.
    """
    try:
        start = float(start)
        end = float(end)
    except (TypeError, ValueError):
        raise ValueError("start and end must be numbers of seconds") from None
    if not math.isfinite(start) or start < 0:
        raise ValueError(f"start must be a finite number of seconds >= 0, got {start}")
    if math.isnan(end) or end <= start:
        raise ValueError(f"end must be greater than start (start={start}, end={end})")
    if start >= duration:
        raise ValueError(
            f"start {start:.3f} s is at or past the end of the audio ({duration:.3f} s)"
        )
    return start, min(end, duration)


def window_frames(start: float, end: float, sample_rate: int, frames: int) -> tuple[int, int]:
    """Frame range [f0, f1) of a validated window: f0 rounds down, f1 rounds up, so the range
    covers the whole window and always holds at least one frame."""
    f0 = min(int(math.floor(start * sample_rate)), frames - 1)
    f1 = min(int(math.ceil(end * sample_rate)), frames)
    return f0, max(f1, f0 + 1)


def iter_blocks(snd: sf.SoundFile, start: int, count: int) -> Iterator[np.ndarray]:
    """Yield float32 blocks of shape (frames, channels) covering at most `count` frames from
    frame `start`, each block at most READ_BLOCK_SAMPLES samples, each as one read of the
    whole file has it (`ml_backend.audio_read`: MP3 needs that). Stops early at end of
    stream (a file shorter than its header claims)."""
    yield from iter_spans(snd, start, count, max(1, READ_BLOCK_SAMPLES // snd.channels))


def to_full_scale(samples: np.ndarray) -> np.ndarray:
    """Float samples as drawn, in place: NaN as 0, +-Inf and anything past full scale as full
    scale (a broken float file's 1e30 samples overflowed the peaks' scaling, and turned its
    spectrogram black)."""
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


def mix_min_max(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (min over channels, max over channels) of a (frames, channels) block: the
    envelope of all channels drawn as one waveform. Mono returns views, no copy."""
    if block.shape[1] == 1:
        column = block[:, 0]
        return column, column
    return block.min(axis=1), block.max(axis=1)


def fmt_duration(seconds: float, unit: str | None = None) -> str:
    """Human duration such as '7.2 h', '12.5 min' or '3.1 s'; `unit` forces 'h', 'min' or 's'."""
    if unit is None:
        unit = "h" if seconds >= 3600 else "min" if seconds >= 60 else "s"
    scale = {"h": 3600.0, "min": 60.0, "s": 1.0}[unit]
    return f"{seconds / scale:.1f} {unit}"
