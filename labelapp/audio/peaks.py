"""Multi-resolution min/max waveform peaks: computed once per clip, read per window.

File format (all integers little-endian), version 2::

    offset  size  field
    0       4     magic b"EMPK"
    4       2     version (2)
    6       2     channels of the source
    8       4     sample_rate (Hz)
    12      8     frames (samples per channel actually decoded)
    20      4     base samples per bucket at level 0 (256)
    24      4     factor between levels (4)
    28      4     n_levels
    32      2     envelopes: min/max pairs per bucket (see below)
    34      2     reserved (0)
    36      16*n  level table, per level: u64 byte offset of its data from the file start,
                  u64 number of buckets
    ...           level data, level 0 first: `buckets` groups of `envelopes` int16 pairs
                  (min, max), 4 bytes a pair, channel 0 first

A source of 2 to MAX_CHANNEL_ENVELOPES channels keeps one envelope per channel (drawn as
lanes, one per microphone); mono, and a source of more channels, keeps one envelope whose
min is the smallest sample over all channels and whose max the largest. Values are scaled
so that +-32767 = +-1.0. Version 1 (still read; `clip_peaks_refresh` rewrites it) has no
envelopes field, a 32-byte header and always one envelope over all channels.

Level L has 256 * 4**L samples per bucket and ceil(frames / that) buckets; the last bucket
may be partial. Levels stop at the first one with <= 2048 buckets. Bucket i of level L lies
at offset_L + 4 * envelopes * i, so any window of any level, every channel of it, is one
seek and one read (also over a storage backend's file object).

Memory while computing: audio is decoded in blocks of at most `block_frames` frames (and at
most READ_BLOCK_SAMPLES samples); level 0 is streamed to a spooled temporary file (in memory
below SPOOL_MAX_BYTES, on disk above), and each coarser level is built by streaming the level
below it in chunks. Peak Python memory is a few MB whatever the length: a 10-hour 192 kHz
mono file has 27M level-0 buckets (108 MB), which go to disk, not to RAM (8 channels: 864 MB
of disk, the same few MB of RAM).
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

import numpy as np
import soundfile as sf

from labelapp.audio._util import (
    READ_BLOCK_SAMPLES,
    check_int,
    check_window,
    iter_blocks,
    mix_min_max,
    read_exact,
    to_full_scale,
    window_frames,
)
from labelapp.audio.probe import TRUNCATED, ZERO_DURATION, AudioError, Source, open_audio
from ml_backend.audio_read import is_mp3, read_at

MAGIC = b"EMPK"
VERSION = 2  # 1: one envelope over all channels, whatever the source
BASE_SAMPLES_PER_BUCKET = 256  # samples per bucket at level 0
LEVEL_FACTOR = 4  # each level's buckets span this many buckets of the level below
MAX_TOP_BUCKETS = 2048  # buckets; the coarsest level has at most this many
MAX_LEVELS = 32  # sanity bound when reading a header (4**32 * 256 samples is plenty)
# Sources of up to this many channels keep (and draw) one envelope per channel; more would
# make lanes too thin to read and files too large, so they keep one over all channels.
MAX_CHANNEL_ENVELOPES = 8  # channels
PEAK_SCALE = 32767  # int16 value of a full-scale (1.0) sample
MAX_WIDTH = 20000  # buckets per response
MAX_SAMPLE_WINDOW_S = 10.0  # seconds; longest window read_sample_window will decode
SPOOL_MAX_BYTES = 1 << 20  # level data up to this size stays in memory while computing
CHUNK_BUCKETS = 1 << 16  # buckets per read when deriving a coarser level (multiple of 4)
PROGRESS_STEP = 0.01  # call `progress` at most once per this fraction of the stream

_HEADER_V1 = struct.Struct("<4sHHIQIII")
_HEADER = struct.Struct("<4sHHIQIIIHH")  # version 2: + envelopes, reserved
_LEVEL = struct.Struct("<QQ")
_PAIR = np.dtype("<i2")
_PAIR_BYTES = 4  # one (min, max) int16 pair


def envelopes_for(channels: int) -> int:
    """Min/max envelopes a peaks file keeps for a source of `channels` channels."""
    return channels if 1 < channels <= MAX_CHANNEL_ENVELOPES else 1


@dataclass(frozen=True)
class PeaksLevel:
    index: int
    samples_per_bucket: int  # frames per bucket
    offset: int  # bytes from the start of the peaks file
    buckets: int


@dataclass(frozen=True)
class PeaksHeader:
    sample_rate: int  # Hz
    frames: int
    channels: int
    levels: tuple[PeaksLevel, ...]
    base_samples_per_bucket: int = BASE_SAMPLES_PER_BUCKET
    factor: int = LEVEL_FACTOR
    version: int = VERSION
    envelopes: int = 1  # min/max pairs per bucket: one per channel, or one over all

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / self.sample_rate

    @property
    def per_channel(self) -> bool:
        """Whether each channel has its own envelope (else one over all channels)."""
        return self.envelopes > 1

    @property
    def bucket_bytes(self) -> int:
        return _PAIR_BYTES * self.envelopes

    @property
    def size(self) -> int:
        """Bytes of the header plus level table."""
        head = _HEADER_V1 if self.version == 1 else _HEADER
        return head.size + _LEVEL.size * len(self.levels)

    def to_bytes(self) -> bytes:
        fields = (
            MAGIC, self.version, self.channels, self.sample_rate, self.frames,
            self.base_samples_per_bucket, self.factor, len(self.levels),
        )  # fmt: skip
        if self.version == 1:
            head = _HEADER_V1.pack(*fields)
        else:
            head = _HEADER.pack(*fields, self.envelopes, 0)
        return head + b"".join(_LEVEL.pack(lv.offset, lv.buckets) for lv in self.levels)


def plan_levels(frames: int) -> list[int]:
    """Bucket counts per level for `frames` samples: level 0 at BASE_SAMPLES_PER_BUCKET, each
    next level LEVEL_FACTOR times coarser, the last one the first with <= MAX_TOP_BUCKETS."""
    counts = [max(1, -(-frames // BASE_SAMPLES_PER_BUCKET))]
    while counts[-1] > MAX_TOP_BUCKETS:
        counts.append(-(-counts[-1] // LEVEL_FACTOR))
    return counts


def compute_peaks(
    source: Source,
    dest_fileobj: IO[bytes],
    *,
    block_frames: int = 262144,
    progress: Callable[[float], None] | None = None,
) -> PeaksHeader:
    """Stream `source` once and write its peaks file to `dest_fileobj` (only `write` is used;
    it is flushed, not closed). `progress(fraction)` is called with 0..1 now and then.

    Raises AudioError if the audio cannot be opened or decoded, or decodes to nothing.
    """
    block_frames = check_int("block_frames", block_frames, BASE_SAMPLES_PER_BUCKET, 1 << 24)
    # One spooled temporary file per level, level 0 first; all deleted on exit.
    with contextlib.ExitStack() as temps:
        files = [temps.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES))]
        with open_audio(source) as snd:
            channels, sample_rate, expected = snd.channels, snd.samplerate, snd.frames
            envelopes = envelopes_for(channels)
            # Whole buckets per block so that only the stream's last bucket is ever partial.
            per_block = min(block_frames, max(1, READ_BLOCK_SAMPLES // channels))
            per_block -= per_block % BASE_SAMPLES_PER_BUCKET
            per_block = max(BASE_SAMPLES_PER_BUCKET, per_block)
            try:
                frames = _stream_level0(snd, files[0], per_block, expected, envelopes, progress)
            except _BlockFailed as failed:
                broken = failed
            else:
                broken = None
        if broken is not None:
            # A decoder that failed stays failed (every later seek fails too): a new handle
            # finds the second it fails at.
            with open_audio(source) as fresh:
                at = _failing_frame(fresh, broken.start, broken.span) / sample_rate
            raise AudioError(f"{TRUNCATED}: decoding failed at {at:.1f} s ({broken.exc})")
        if frames == 0:
            raise AudioError(ZERO_DURATION)
        counts = plan_levels(frames)
        for _ in counts[1:]:
            coarser = temps.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES))
            _downsample(files[-1], coarser, envelopes)
            files.append(coarser)
        levels, offset = [], _HEADER.size + _LEVEL.size * len(counts)
        for i, count in enumerate(counts):
            spb = BASE_SAMPLES_PER_BUCKET * LEVEL_FACTOR**i
            levels.append(PeaksLevel(i, spb, offset, count))
            offset += count * _PAIR_BYTES * envelopes
        header = PeaksHeader(sample_rate, frames, channels, tuple(levels), envelopes=envelopes)
        dest_fileobj.write(header.to_bytes())
        for f in files:
            f.seek(0)
            shutil.copyfileobj(f, dest_fileobj, SPOOL_MAX_BYTES)
        if hasattr(dest_fileobj, "flush"):
            dest_fileobj.flush()
    if progress is not None:
        progress(1.0)
    return header


class _BlockFailed(Exception):  # noqa: N818 - a control-flow signal, not an error type
    def __init__(self, start: int, span: int, exc: BaseException):
        super().__init__(str(exc))
        self.start, self.span, self.exc = start, span, exc


def _failing_frame(snd: sf.SoundFile, start: int, span: int) -> int:
    """Where the block of `span` frames from `start` that failed to decode fails, to the
    second, read on a fresh handle (a FLAC damaged 4 s in said "decoding failed at 0.0 s":
    the block's start). `start` when the block reads whole this time."""
    step = max(1, int(snd.samplerate))
    pos = start
    try:
        while pos < start + span:
            got = len(read_at(snd, pos, step))
            if got == 0:
                return pos
            pos += got
    except (sf.LibsndfileError, RuntimeError):
        return pos
    return start


def _stream_level0(
    snd: sf.SoundFile,
    out: IO[bytes],
    per_block: int,
    expected: int,
    envelopes: int,
    progress: Callable[[float], None] | None,
) -> int:
    """Decode the whole stream block by block, writing level-0 buckets (`envelopes` pairs
    each); returns frames read."""
    buf = np.empty((per_block, snd.channels), dtype=np.float32)  # reused: no per-block alloc
    frames, reported = 0, 0.0
    mp3 = is_mp3(snd)  # read block by block, an MP3 needs each block read from before it
    while True:
        try:
            if mp3:
                block = read_at(snd, frames, per_block)
            else:
                block = snd.read(per_block, dtype="float32", always_2d=True, out=buf)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _BlockFailed(frames, per_block, exc) from None
        n = len(block)
        if n == 0:
            break
        full = n - n % BASE_SAMPLES_PER_BUCKET
        if envelopes > 1:
            lo = hi = block  # (frames, channels): one envelope per channel
            # Channel by channel over contiguous rows: reducing the interleaved frames in
            # place was 12x slower (a 1-hour stereo file took 10 s, a mono one 1.3 s).
            planes = np.ascontiguousarray(block[:full].T).reshape(
                envelopes, -1, BASE_SAMPLES_PER_BUCKET
            )
            mins, maxs = planes.min(axis=2).T, planes.max(axis=2).T
        else:
            lo, hi = (column[:, None] for column in mix_min_max(block))
            mins = lo[:full].reshape(-1, BASE_SAMPLES_PER_BUCKET, 1).min(axis=1)
            maxs = hi[:full].reshape(-1, BASE_SAMPLES_PER_BUCKET, 1).max(axis=1)
        if full < n:  # partial bucket: only the last block of the stream has one
            mins = np.concatenate([mins, lo[full:].min(axis=0, keepdims=True)])
            maxs = np.concatenate([maxs, hi[full:].max(axis=0, keepdims=True)])
        out.write(_to_pairs(mins, maxs).tobytes())
        frames += n
        if n < per_block:
            break
        if progress is not None and expected > 0 and frames / expected - reported >= PROGRESS_STEP:
            reported = min(frames / expected, 0.99)
            progress(reported)
    return frames


def _to_pairs(mins: np.ndarray, maxs: np.ndarray) -> np.ndarray:
    """(..., 2) int16 pairs from float min/max in [-1, 1]; NaN (bad float files) reads as 0."""
    pairs = to_full_scale(np.stack([mins, maxs], axis=-1).astype(np.float32))  # then scaled
    return np.rint(pairs * PEAK_SCALE).astype(_PAIR)


def _downsample(src: IO[bytes], dst: IO[bytes], envelopes: int) -> None:
    """Write the next coarser level of `src` to `dst`, streaming CHUNK_BUCKETS at a time."""
    src.seek(0)
    while raw := read_exact(src, CHUNK_BUCKETS * _PAIR_BYTES * envelopes):
        pairs = np.frombuffer(raw, dtype=_PAIR).reshape(-1, envelopes, 2)
        # CHUNK_BUCKETS is a multiple of LEVEL_FACTOR, so groups never straddle two chunks;
        # reduceat makes the stream's last group partial when it has to be.
        groups = np.arange(0, len(pairs), LEVEL_FACTOR)
        mins = np.minimum.reduceat(pairs[..., 0], groups, axis=0)
        maxs = np.maximum.reduceat(pairs[..., 1], groups, axis=0)
        dst.write(np.stack([mins, maxs], axis=-1).astype(_PAIR).tobytes())


def read_peaks_header(peaks_fileobj: BinaryIO) -> PeaksHeader:
    """Parse the header of a peaks file, version 1 or 2 (one seek, one small read).
    ValueError if invalid."""
    peaks_fileobj.seek(0)
    raw = read_exact(peaks_fileobj, _HEADER.size + _LEVEL.size * MAX_LEVELS)
    if len(raw) < _HEADER_V1.size:
        raise ValueError("not a peaks file: too short")
    magic, version, channels, rate, frames, base, factor, n_levels = _HEADER_V1.unpack_from(raw)
    if magic != MAGIC:
        raise ValueError("not a peaks file: bad magic")
    if version == 1:
        head, envelopes = _HEADER_V1, 1
    elif version == VERSION:
        if len(raw) < _HEADER.size:
            raise ValueError("not a peaks file: too short")
        head, envelopes = _HEADER, _HEADER.unpack_from(raw)[8]
        if envelopes != envelopes_for(channels):
            raise ValueError(f"corrupt peaks header: {envelopes} envelopes of {channels} channels")
    else:
        raise ValueError(f"unsupported peaks file version {version}")
    if not (0 < n_levels <= MAX_LEVELS and rate > 0 and frames > 0 and base > 0 and factor > 1):
        raise ValueError("corrupt peaks header")
    if len(raw) < head.size + _LEVEL.size * n_levels:
        raise ValueError("corrupt peaks header: level table is cut off")
    levels = []
    for i in range(n_levels):
        offset, buckets = _LEVEL.unpack_from(raw, head.size + _LEVEL.size * i)
        spb = base * factor**i
        if buckets != -(-frames // spb):
            raise ValueError(f"corrupt peaks header: level {i} has {buckets} buckets")
        levels.append(PeaksLevel(i, spb, offset, buckets))
    return PeaksHeader(rate, frames, channels, tuple(levels), base, factor, version, envelopes)


def read_peaks(
    peaks_fileobj: BinaryIO, *, start: float, end: float, width: int, per_channel: bool = False
) -> dict[str, Any]:
    """Peaks of [start, end) seconds (end clamped to the audio) as `width` buckets.

    Picks the coarsest level that still has >= `width` buckets in the window, reads only
    those bytes, and folds them into `width` groups with min/max. Returns fewer buckets when
    even level 0 has fewer than `width` in the window. "start"/"end" in the result are the
    span actually covered (aligned to the level's buckets, so possibly a little wider);
    "min"/"max" are in [-1, 1], over all channels; "samples_per_bucket" is the mean frames
    per output bucket. With `per_channel`, where the file keeps one envelope per channel,
    "per_channel" holds each channel's {"min", "max"} too.
    """
    header = read_peaks_header(peaks_fileobj)
    width = check_int("width", width, 1, MAX_WIDTH)
    start, end = check_window(start, end, header.duration)
    f0, f1 = window_frames(start, end, header.sample_rate, header.frames)

    level, b0, b1 = header.levels[0], 0, 0
    for candidate in reversed(header.levels):
        spb = candidate.samples_per_bucket
        level, b0, b1 = candidate, f0 // spb, -(-f1 // spb)
        if b1 - b0 >= width:
            break
    peaks_fileobj.seek(level.offset + b0 * header.bucket_bytes)
    raw = read_exact(peaks_fileobj, (b1 - b0) * header.bucket_bytes)
    pairs = np.frombuffer(raw, dtype=_PAIR).reshape(-1, header.envelopes, 2)
    if len(pairs) != b1 - b0:
        raise ValueError("corrupt peaks file: level data is cut off")

    n_out = min(width, len(pairs))
    groups = (np.arange(n_out) * len(pairs)) // n_out  # strictly increasing: len >= n_out
    mins = np.minimum.reduceat(pairs[..., 0], groups, axis=0)  # (n_out, envelopes)
    maxs = np.maximum.reduceat(pairs[..., 1], groups, axis=0)
    first = b0 * level.samples_per_bucket
    last = min(b1 * level.samples_per_bucket, header.frames)
    return _window_dict(
        first,
        last,
        header.sample_rate,
        level.index,
        mins / PEAK_SCALE,
        maxs / PEAK_SCALE,
        per_channel=per_channel and header.per_channel,
    )


def read_sample_window(
    source: Source, *, start: float, end: float, width: int, per_channel: bool = False
) -> dict[str, Any]:
    """Min/max of the raw samples of [start, end) seconds in `width` buckets (level -1).

    For zoom levels finer than level 0. Seeks and decodes only the window, which may be at
    most MAX_SAMPLE_WINDOW_S long (ValueError otherwise). With fewer samples than `width`,
    one bucket per sample (min == max == the sample, for mono). With `per_channel`, a source
    of 2 to MAX_CHANNEL_ENVELOPES channels also gets each channel's {"min", "max"}.
    """
    width = check_int("width", width, 1, MAX_WIDTH)
    with open_audio(source) as snd:
        rate, frames = snd.samplerate, snd.frames
        if frames <= 0:
            raise AudioError(ZERO_DURATION)
        start, end = check_window(start, end, frames / rate)
        if end - start > MAX_SAMPLE_WINDOW_S:
            raise ValueError(
                f"a sample window can span at most {MAX_SAMPLE_WINDOW_S:g} s, "
                f"got {end - start:.3f} s; use the peaks instead"
            )
        split = per_channel and envelopes_for(snd.channels) > 1
        columns = snd.channels if split else 1
        f0, f1 = window_frames(start, end, rate, frames)
        n_out = min(width, f1 - f0)
        # Bucket j covers frames [edges[j], edges[j+1]); edges strictly increase.
        edges = f0 + (np.arange(n_out + 1) * (f1 - f0)) // n_out
        mins = np.full((n_out, columns), np.inf, dtype=np.float32)
        maxs = np.full((n_out, columns), -np.inf, dtype=np.float32)
        pos = f0
        try:
            for block in iter_blocks(snd, f0, f1 - f0):
                if split:
                    lo = hi = block
                else:
                    lo, hi = (column[:, None] for column in mix_min_max(block))
                # Buckets this block touches, and where each starts inside the block.
                j0 = int(np.searchsorted(edges, pos, side="right")) - 1
                j1 = int(np.searchsorted(edges, pos + len(block) - 1, side="right"))
                starts = np.maximum(edges[j0:j1], pos) - pos
                lo_b = np.minimum.reduceat(lo, starts, axis=0)
                hi_b = np.maximum.reduceat(hi, starts, axis=0)
                np.minimum(mins[j0:j1], lo_b, out=mins[j0:j1])
                np.maximum(maxs[j0:j1], hi_b, out=maxs[j0:j1])
                pos += len(block)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"{TRUNCATED}: could not decode the window ({exc})") from None
    filled = int(np.searchsorted(edges, pos, side="left"))  # buckets that got samples
    if filled == 0:
        raise AudioError(f"{TRUNCATED}: could not decode the window")
    mins, maxs = _clean(mins[:filled]), _clean(maxs[:filled])
    return _window_dict(f0, min(pos, f1), rate, -1, mins, maxs, per_channel=split)


def peaks_window(
    peaks_fileobj: BinaryIO,
    audio_source: Source | None,
    *,
    start: float,
    end: float,
    width: int,
    per_channel: bool = False,
) -> dict[str, Any]:
    """Peaks for a window from whichever source fits the zoom: the precomputed levels, or,
    when a level-0 bucket would be coarser than an output bucket (and the window is at most
    MAX_SAMPLE_WINDOW_S), the raw samples of `audio_source`. With `per_channel`, each
    channel's envelope comes too where the peaks file keeps them (a version-1 file does
    not: then none comes, at any zoom, so that a view keeps one layout)."""
    header = read_peaks_header(peaks_fileobj)
    width = check_int("width", width, 1, MAX_WIDTH)
    start, end = check_window(start, end, header.duration)
    f0, f1 = window_frames(start, end, header.sample_rate, header.frames)
    too_fine = f1 - f0 < width * BASE_SAMPLES_PER_BUCKET
    per_channel = per_channel and header.per_channel
    if audio_source is not None and too_fine and end - start <= MAX_SAMPLE_WINDOW_S:
        return read_sample_window(
            audio_source, start=start, end=end, width=width, per_channel=per_channel
        )
    return read_peaks(peaks_fileobj, start=start, end=end, width=width, per_channel=per_channel)


def _clean(values: np.ndarray) -> np.ndarray:
    """Samples as the peaks file would store them: NaN as 0, clipped to [-1, 1]."""
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def _window_dict(
    first: int,
    last: int,
    rate: int,
    level: int,
    mins: np.ndarray,
    maxs: np.ndarray,
    *,
    per_channel: bool = False,
) -> dict[str, Any]:
    """The answer for a window; `mins`/`maxs` are (buckets, envelopes): "min"/"max" are
    over all of them, "per_channel" (with `per_channel`) one {"min", "max"} per envelope."""

    def values(a: np.ndarray) -> list[float]:
        return np.round(np.asarray(a, dtype=np.float64), 4).tolist()

    body = {
        "start": round(first / rate, 6),
        "end": round(last / rate, 6),
        "sample_rate": rate,
        "samples_per_bucket": (last - first) / max(len(mins), 1),
        "level": level,
        "min": values(mins.min(axis=1)),
        "max": values(maxs.max(axis=1)),
    }
    if per_channel:
        body["per_channel"] = [
            {"min": values(mins[:, c]), "max": values(maxs[:, c])} for c in range(mins.shape[1])
        ]
    return body
