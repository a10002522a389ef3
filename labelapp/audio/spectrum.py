"""A long recording's spectral overview: the loudest of every frame's bins, kept at a few zooms.

A far spectrogram view (a column spans more samples than its FFT) samples: `spectrogram`
seeks to up to 16 frames a column, within a time budget, so a short call between its looks
is not drawn (an hour's MP3 at 992 px: 34 of 180 chirps of 0.15 s). The overview is computed
once, when the clip is processed, from every frame of the recording: level 0 keeps, for each
`group` frames (8,192 samples by default), each FFT bin's loudest power; each level above
keeps the loudest of 4 columns of the one below, up to a level of at most `MAX_TOP_COLUMNS`.
A far view then draws each pixel column from the loudest of the overview's columns in it:
every call lit, whatever the zoom, from a read of at most a few megabytes.

Powers are stored as dB over full scale (a full-scale sine's peak bin reads 0 dB, as in
`spectrogram`) in half-dB steps from SILENCE_DB, one byte a bin: an hour at 44.1 kHz is
19,380 columns of 257 bins at level 0, 6.6 MB in all. Nothing here holds more than level 0
and one block of audio; level 0 is bounded to `MAX_LEVEL0_COLUMNS` by widening the group.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from labelapp.audio._util import iter_blocks, read_exact, to_full_scale
from labelapp.audio.probe import TRUNCATED, ZERO_DURATION, AudioError, Source, open_audio
from ml_backend.audio_read import decoder_quiet

MAGIC = b"EMSP"
VERSION = 1
N_FFT = 512  # the spectrogram view's FFT: the overview serves views of this size only
HOP = N_FFT // 2  # Hann frames overlapping by half: every sample is weighed
BASE_GROUP = 32  # frames a level-0 column keeps the loudest of (8,192 samples)
LEVEL_FACTOR = 4
MAX_TOP_COLUMNS = 2048
MAX_LEVEL0_COLUMNS = 1 << 15  # 8.4 MB of level 0 (34 MB while computed): a group widens past it
MAX_LEVELS = 16
MIN_SECONDS = 60.0  # shorter clips are drawn from their samples fast enough
SILENCE_DB = -120.0  # dB re full scale; the bottom of the range for near-silent windows
POWER_FLOOR = 1e-12  # power added before log10 (-120 dB) so that silence is finite
STEP_DB = 0.5  # one byte's step: -120 .. +7.5 dB
FRAMES_PER_BATCH = 2048  # frames transformed at once (4 MB of float32)

# magic, version, rate, frames, n_fft, hop, group, bins, levels
_HEADER = struct.Struct("<4sHIQHHIHH")
_LEVEL = struct.Struct("<QQ")  # offset, columns


@dataclass(frozen=True)
class OverviewLevel:
    offset: int  # bytes from the file's start
    columns: int
    span: int  # samples a column covers


@dataclass(frozen=True)
class OverviewHeader:
    sample_rate: int
    frames: int
    n_fft: int
    hop: int
    group: int
    bins: int
    levels: tuple[OverviewLevel, ...]


def hann(n_fft: int) -> tuple[np.ndarray, float]:
    """The Hann taper of `n_fft` samples, and the power a full-scale sine's peak bin has under
    it: the spectrogram's views and the overview read their dB on one scale."""
    taper = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    return taper, float((taper.sum() / 2) ** 2)


def wanted(duration: float | None) -> bool:
    """Whether a clip of `duration` seconds gets an overview when it is processed."""
    return bool(duration) and duration >= MIN_SECONDS


def compute_overview(source: Source, out: BinaryIO) -> OverviewHeader:
    """Write the overview of `source` (a path or a binary file) to `out`. AudioError when the
    audio cannot be decoded; a file shorter than its header says is overviewed as far as it
    decodes (its tail reads as silence)."""
    with open_audio(source) as snd:
        rate, frames = snd.samplerate, snd.frames
        if frames <= 0:
            raise AudioError(ZERO_DURATION)
        n_frames = max(1, math.ceil(frames / HOP))
        group = BASE_GROUP
        while math.ceil(n_frames / group) > MAX_LEVEL0_COLUMNS:
            group *= 2
        columns = math.ceil(n_frames / group)
        bins = N_FFT // 2 + 1
        level0 = np.zeros((columns, bins), dtype=np.float32)  # max power; 0 = nothing yet
        taper, norm = hann(N_FFT)
        # Frame i covers samples [i*HOP - HOP, i*HOP + HOP): centred on i*HOP, the first half
        # of the first frame before the file (zeros), as the view's frames are.
        carry = np.zeros(HOP, dtype=np.float32)
        frame_index = 0
        try:
            with decoder_quiet(snd):
                for block in iter_blocks(snd, 0, frames):
                    mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
                    span = np.concatenate([carry, to_full_scale(np.ascontiguousarray(mono))])
                    done = _frames_into(level0, span, frame_index, group, taper, norm)
                    carry = span[(done - frame_index) * HOP :]  # the next frame's start on
                    frame_index = done
                # the last frames, reaching past the end (zeros)
                tail = np.concatenate([carry, np.zeros(N_FFT, dtype=np.float32)])
                _frames_into(level0, tail, frame_index, group, taper, norm, limit=n_frames)
        except RuntimeError as exc:  # soundfile's decode errors
            raise AudioError(f"{TRUNCATED}: could not decode the audio ({exc})") from None

    pyramid = [_quantize(level0)]
    while len(pyramid[-1]) > MAX_TOP_COLUMNS and len(pyramid) < MAX_LEVELS:
        pyramid.append(_coarser(pyramid[-1]))
    offset = _HEADER.size + _LEVEL.size * len(pyramid)
    levels = []
    for k, level in enumerate(pyramid):
        levels.append(OverviewLevel(offset, len(level), group * HOP * LEVEL_FACTOR**k))
        offset += level.nbytes
    header = OverviewHeader(rate, frames, N_FFT, HOP, group, bins, tuple(levels))
    out.write(_HEADER.pack(MAGIC, VERSION, rate, frames, N_FFT, HOP, group, bins, len(levels)))
    for level in levels:
        out.write(_LEVEL.pack(level.offset, level.columns))
    for level in pyramid:
        out.write(level.tobytes())
    return header


def _frames_into(
    level0: np.ndarray,
    span: np.ndarray,
    first: int,
    group: int,
    taper: np.ndarray,
    norm: float,
    *,
    limit: int | None = None,
) -> int:
    """Transform every whole frame of `span` (frame `first` starts at span[0], frames HOP
    apart) and keep each bin's loudest power in its level-0 column; returns the index of the
    next frame, whose start is at span[(returned - first) * HOP]."""
    count = max(0, (len(span) - N_FFT) // HOP + 1)
    if limit is not None:
        count = min(count, max(0, limit - first))
    for b0 in range(0, count, FRAMES_PER_BATCH):
        n = min(FRAMES_PER_BATCH, count - b0)
        idx = (b0 + np.arange(n))[:, None] * HOP + np.arange(N_FFT)[None, :]
        spectrum = np.fft.rfft(span[idx] * taper, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2) / norm
        cols = np.minimum((first + b0 + np.arange(n)) // group, len(level0) - 1)
        # The batch's frames are in order: each column's run reduced at once.
        edges = np.flatnonzero(np.diff(cols, prepend=-1))
        runs = np.maximum.reduceat(power, edges, axis=0)
        level0[cols[edges]] = np.maximum(level0[cols[edges]], runs)
    return first + count


def _quantize(power: np.ndarray) -> np.ndarray:
    db = 10 * np.log10(power + POWER_FLOOR)
    return np.clip(np.rint((db - SILENCE_DB) / STEP_DB), 0, 255).astype(np.uint8)


def _coarser(level: np.ndarray) -> np.ndarray:
    pad = (-len(level)) % LEVEL_FACTOR
    if pad:
        level = np.concatenate([level, np.zeros((pad, level.shape[1]), dtype=level.dtype)])
    return level.reshape(-1, LEVEL_FACTOR, level.shape[1]).max(axis=1)


def read_overview_header(fileobj: BinaryIO) -> OverviewHeader:
    """The header of an overview file; ValueError when it is not one this code wrote."""
    fileobj.seek(0)
    raw = read_exact(fileobj, _HEADER.size)
    if len(raw) < _HEADER.size:
        raise ValueError("not a spectral overview (too short)")
    magic, version, rate, frames, n_fft, hop, group, bins, n_levels = _HEADER.unpack(raw)
    if magic != MAGIC or version != VERSION or not 0 < n_levels <= MAX_LEVELS:
        raise ValueError("not a spectral overview of this version")
    raw = read_exact(fileobj, _LEVEL.size * n_levels)
    if len(raw) < _LEVEL.size * n_levels:
        raise ValueError("not a spectral overview (truncated header)")
    levels = tuple(
        OverviewLevel(offset, columns, group * hop * LEVEL_FACTOR**k)
        for k, (offset, columns) in enumerate(_LEVEL.iter_unpack(raw))
    )
    return OverviewHeader(rate, frames, n_fft, hop, group, bins, levels)


def overview_power(
    fileobj: BinaryIO, header: OverviewHeader, f0: int, f1: int, width: int
) -> np.ndarray | None:
    """(bins, width) power of the window [f0, f1) frames, each pixel column the loudest of
    the overview's columns that start in its share; None when the window is too near for the
    overview (a pixel column narrower than level 0's columns: read the samples)."""
    per_pixel = (f1 - f0) / width
    usable = [lv for lv in header.levels if lv.span <= per_pixel]
    if not usable:
        return None
    level = usable[-1]  # the coarsest with at least a column a pixel
    j0 = max(0, f0 // level.span)
    j1 = min(level.columns, -(-f1 // level.span))
    if j1 <= j0:
        return None
    fileobj.seek(level.offset + j0 * header.bins)
    raw = read_exact(fileobj, (j1 - j0) * header.bins)
    cols = np.frombuffer(raw, dtype=np.uint8)
    n = len(cols) // header.bins
    if n == 0:
        return None
    cols = cols[: n * header.bins].reshape(n, header.bins)
    # Each overview column to the pixel its middle falls in.
    middles = (j0 + np.arange(n)) * level.span + level.span / 2
    pixel = np.clip(((middles - f0) / per_pixel).astype(np.intp), 0, width - 1)
    starts = np.searchsorted(pixel, np.arange(width))
    starts = np.minimum(starts, n - 1)  # a pixel past the last column repeats it
    loudest = np.maximum.reduceat(cols, starts, axis=0)  # (width, bins) uint8
    db = loudest.astype(np.float32) * STEP_DB + SILENCE_DB
    return (10.0 ** (db / 10.0)).T
