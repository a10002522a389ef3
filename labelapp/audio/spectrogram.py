"""Spectrogram images of a time window, with work bounded by the image size, not the window.

One column per output pixel: an n_fft-sample Hann-windowed frame centred on the column's
time. A window longer than width * n_fft samples is sampled by seeking to each column's
frame (width reads of n_fft frames whatever the window's length); a shorter one is read
once, in batches of columns, and its frames are hop-spaced slices of what was read (when
there are fewer samples than columns, neighbouring columns share a frame: nearest-neighbour
interpolation in time).

Power is scaled so that a full-scale sine reads 0 dB, mapped to rows (mean of the FFT bins
in a row's band, linear interpolation between bins where a row is narrower than a bin),
shown over DYNAMIC_RANGE_DB below the image's maximum and coloured with magma.
"""

from __future__ import annotations

import io
import logging
import math
import time
from typing import BinaryIO

import numpy as np
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from labelapp.audio._util import (
    check_int,
    check_window,
    iter_blocks,
    to_full_scale,
    window_frames,
)
from labelapp.audio.probe import TRUNCATED, ZERO_DURATION, AudioError, Source, open_audio
from labelapp.audio.spectrum import (
    POWER_FLOOR,
    SILENCE_DB,
    hann,
    overview_power,
    read_overview_header,
)
from ml_backend.audio_read import decoder_quiet, is_mp3, read_at

logger = logging.getLogger(__name__)

MIN_WIDTH, MAX_WIDTH = 16, 4096  # pixels (columns)
MIN_HEIGHT, MAX_HEIGHT = 16, 1024  # pixels (rows)
MIN_N_FFT, MAX_N_FFT = 64, 8192  # samples, a power of two
DYNAMIC_RANGE_DB = 80.0  # dB shown below the image's loudest point
BATCH_SAMPLES = 1 << 17  # samples per batch of columns (bounds memory per FFT batch)
SPARSE_LOOKS = 16  # frames a column of a far view takes its loudest bins from
# Seconds of seeking a far view may take. A seek costs what decoding the codec's block costs:
# microseconds in a WAV, but a FLAC of 65,535-frame blocks at 384 kHz and 8 channels (34 KB
# for two minutes of silence) took 0.55 ms a seek, 36 s for 4,096 columns x 16 looks, on
# every view of its clip. A view whose seeks would take longer reads fewer looks a column,
# then fewer columns (each shown over its neighbours' pixels too).
SPARSE_BUDGET_S = 1.5
COST_PROBES = 8  # seeks timed to estimate a far view's cost
READ_PROBE_FRAMES = 1 << 16  # frames read through, timed, to weigh it against seeking
SCALES = ("mel", "linear")

# Magma (matplotlib's, CC0, by Smith and van der Walt): every 16th entry of the 256-colour
# table plus the last, as 8-bit RGB; linear interpolation between them is within 3/255.
_MAGMA_ANCHORS = np.array(
    [
        (0, 0, 4), (10, 8, 34), (29, 17, 71), (54, 16, 107), (81, 18, 124), (106, 28, 129),
        (131, 38, 129), (156, 46, 127), (183, 55, 121), (208, 65, 111), (231, 82, 99),
        (245, 107, 92), (252, 137, 97), (254, 167, 114), (254, 196, 136), (253, 226, 163),
        (252, 253, 191),
    ],
    dtype=np.float64,
)  # fmt: skip
_ANCHOR_POS = np.append(np.arange(0, 256, 16), 255)
MAGMA_LUT = (
    np.stack(
        [np.interp(np.arange(256), _ANCHOR_POS, _MAGMA_ANCHORS[:, c]) for c in range(3)], axis=1
    )
    .round()
    .astype(np.uint8)
)  # (256, 3) RGB


def render_spectrogram_png(
    source: Source,
    *,
    start: float,
    end: float,
    width: int,
    height: int,
    n_fft: int = 512,
    max_freq: float | None = None,
    min_freq: float | None = None,
    scale: str = "mel",
    overview: BinaryIO | None = None,
) -> bytes:
    """PNG (RGB, `width` x `height` pixels) of the spectrogram of [start, end) seconds.

    Time runs left to right, frequency bottom (`min_freq` Hz, default 0) to top (`max_freq`
    Hz, default and at most the Nyquist frequency) on a "mel" or "linear" axis. ValueError for
    arguments out of range (width 16..4096, height 16..1024, n_fft a power of two 64..8192, a
    bad window, a bottom not below the top);
    AudioError if the audio cannot be decoded. With the clip's spectral `overview`
    (`labelapp.audio.spectrum`), a view far enough out is drawn from it: every frame's
    loudest bins, not a sample of the frames.
    """
    width = check_int("width", width, MIN_WIDTH, MAX_WIDTH)
    height = check_int("height", height, MIN_HEIGHT, MAX_HEIGHT)
    n_fft = check_int("n_fft", n_fft, MIN_N_FFT, MAX_N_FFT)
    if n_fft & (n_fft - 1):
        raise ValueError(f"n_fft must be a power of two, got {n_fft}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if max_freq is not None and not (math.isfinite(max_freq) and max_freq > 0):
        raise ValueError(f"max_freq must be a positive number of Hz, got {max_freq}")
    if min_freq is not None and not (math.isfinite(min_freq) and min_freq >= 0):
        raise ValueError(f"min_freq must be a number of Hz, 0 or more, got {min_freq}")

    with open_audio(source) as snd:
        rate, frames = snd.samplerate, snd.frames
        if frames <= 0:
            raise AudioError(ZERO_DURATION)
        start, end = check_window(start, end, frames / rate)
        top = rate / 2 if max_freq is None else min(float(max_freq), rate / 2)
        bottom = float(min_freq or 0.0)
        if bottom >= top:
            raise ValueError(
                f"min_freq ({bottom:g} Hz) must be below the top of the picture ({top:g} Hz)"
            )
        f0, f1 = window_frames(start, end, rate, frames)
        sparse = f1 - f0 > width * n_fft
        rows = _RowMap(rate, n_fft, height, top, scale, bottom)
        if sparse and overview is not None:
            power = _overview_power(overview, rate, frames, n_fft, f0, f1, width)
            if power is not None:
                return _png(10 * np.log10(rows.apply(power) + POWER_FLOOR))
        # Seen from afar a column spans many frames: it shows the loudest of `looks` frames
        # spread over its share of the window, so a sound shorter than the share still shows
        # (30 minutes at 1,000 px: one frame a column showed 21 of 180 bursts of 0.2 s, 16
        # show them all, 336 ms against 74). An MP3, read from 8,192 frames before each
        # frame, takes the looks its seeks' cost fits in the budget.
        looks = 1
        if sparse:  # an MP3's too, within the budget below (one look missed most chirps)
            looks = int(min(SPARSE_LOOKS, (f1 - f0) // (width * n_fft)))
        columns = width  # columns read; fewer when seeking is slow (then widened to width)
        through = False  # a sparse view read through, not seek by seek
        if sparse and not _seeks_directly(snd):
            seek = _seek_cost(snd, f0, f1, n_fft)
            # A FLAC or Ogg seek decodes a block from a seek point: where the looks lie
            # closer than that, reading the window through costs less, and takes every look
            # (96 kHz stereo FLAC, a minute's view: 1.57 s seek by seek, 0.31 s through); but
            # only within the time a far view gets (half an hour's: 6.4 s through).
            # Its probe reads one stretch: the whole window has cost up to twice its rate.
            through_cost = 2 * (f1 - f0) * _read_cost(snd, f0, f1) if not is_mp3(snd) else math.inf
            if through_cost <= min(SPARSE_BUDGET_S, width * looks * seek):
                through = True
            else:
                allowed = max(MIN_WIDTH, int(SPARSE_BUDGET_S / seek))
                looks = max(1, min(looks, allowed // width))
                columns = min(width, max(MIN_WIDTH, allowed // looks))
        # Column c's looks are centred on the middles of equal parts of its share.
        parts = columns * looks
        centers = f0 + ((2 * np.arange(parts) + 1) * (f1 - f0)) // (2 * parts)
        taper, norm = hann(n_fft)  # a full-scale sine's peak bin has power norm
        db = np.empty((height, columns), dtype=np.float32)
        batch = max(1, BATCH_SAMPLES // (n_fft * looks))  # columns per FFT batch
        try:
            for c0 in range(0, columns, batch):
                cols = centers[c0 * looks : (c0 + batch) * looks]
                read = _frames_sparse if sparse and not through else _frames_dense
                # Quiet a batch at a time: the lock on stderr it takes is not held for a
                # whole render, so MP3 renders of one process's threads interleave.
                with decoder_quiet(snd):
                    windows = read(snd, cols, n_fft)  # (looks, n_fft): not `frames`, the length
                spectrum = np.fft.rfft(to_full_scale(windows) * taper, axis=1)
                power = (spectrum.real**2 + spectrum.imag**2) / norm  # (looks, bins)
                power = power.reshape(-1, looks, power.shape[1]).max(axis=1)  # (columns, bins)
                n = len(power)
                db[:, c0 : c0 + n] = 10 * np.log10(rows.apply(power.T) + POWER_FLOOR)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"{TRUNCATED}: could not decode the window ({exc})") from None

    if columns < width:  # each column read shown over its share of the pixels
        db = db[:, (np.arange(width) * columns) // width]
    return _png(db)


def _png(db: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_colorize(db)[::-1]).save(buffer, format="PNG")  # low frequencies last
    return buffer.getvalue()


def _overview_power(
    overview: BinaryIO, rate: int, frames: int, n_fft: int, f0: int, f1: int, width: int
) -> np.ndarray | None:
    """The window's power from the overview, or None: a view too near for it, an FFT of
    another size, an overview of other audio (the clip's file replaced) or an unreadable one
    (the samples are read instead: a view never fails for its overview)."""
    try:
        header = read_overview_header(overview)
        if (header.sample_rate, header.frames, header.n_fft) != (rate, frames, n_fft):
            return None
        return overview_power(overview, header, f0, f1, width)
    except (OSError, ValueError) as exc:
        logger.warning("spectral overview not used: %s", exc)
        return None


def _seeks_directly(snd: sf.SoundFile) -> bool:
    """Uncompressed samples (WAV, AIFF and the like): a seek is arithmetic, not decoding."""
    return snd.format not in ("FLAC", "OGG", "MPEG") and (
        snd.subtype.startswith("PCM") or snd.subtype in ("FLOAT", "DOUBLE", "ULAW", "ALAW")
    )


def _seek_cost(snd: sf.SoundFile, f0: int, f1: int, n_fft: int) -> float:
    """Seconds one frame read by seeking costs in this file: the median of a few timed one
    by one, spread over the window, after one untimed (the first read of a file just opened
    cost 9.4 ms where the others cost 0.4: their mean made an hour's MP3 draw 57 columns of
    992, its chirps gone), at least a microsecond."""
    probes = f0 + ((2 * np.arange(COST_PROBES) + 1) * (f1 - f0)) // (2 * COST_PROBES)
    costs = []
    with decoder_quiet(snd):
        _frames_sparse(snd, probes[-1:], n_fft)  # the decoder's start-up, untimed
        for probe in probes:
            started = time.perf_counter()
            _frames_sparse(snd, probe[None], n_fft)
            costs.append(time.perf_counter() - started)
    return max(1e-6, float(np.median(costs)))


def _read_cost(snd: sf.SoundFile, f0: int, f1: int) -> float:
    """Seconds one frame read through costs in this file (the middle of the window's
    `READ_PROBE_FRAMES` timed), at least a nanosecond."""
    n = min(READ_PROBE_FRAMES, f1 - f0)
    lo = f0 + (f1 - f0 - n) // 2
    started = time.perf_counter()
    with decoder_quiet(snd):
        for _ in iter_blocks(snd, lo, n):
            pass
    return max(1e-9, (time.perf_counter() - started) / max(n, 1))


def _frames_sparse(snd: sf.SoundFile, centers: np.ndarray, n_fft: int) -> np.ndarray:
    """(columns, n_fft) mono frames, one seek and one n_fft read per column; zero outside
    the file. A far view reads thousands of them: into one buffer, without soundfile's
    per-read position check (an MP3 goes through `read_at`, which needs its own reads)."""
    out = np.zeros((len(centers), n_fft), dtype=np.float32)
    mp3 = is_mp3(snd)
    buf = np.empty((n_fft, snd.channels), dtype=np.float32)
    for i, center in enumerate(centers):
        first = int(center) - n_fft // 2
        lo, hi = max(first, 0), min(first + n_fft, snd.frames)
        if hi <= lo:
            continue
        if mp3:
            block = read_at(snd, lo, hi - lo)
        else:
            snd.seek(lo)
            block = snd.read(out=buf[: hi - lo])
        row = out[i, lo - first : lo - first + len(block)]
        if block.shape[1] == 1:
            row[:] = block[:, 0]
        else:
            np.mean(block, axis=1, out=row)
    return out


def _frames_dense(snd: sf.SoundFile, centers: np.ndarray, n_fft: int) -> np.ndarray:
    """(columns, n_fft) mono frames cut from one contiguous read spanning all the columns'
    frames (centres closer than n_fft apart, so reading through is cheaper than seeking)."""
    first = int(centers[0]) - n_fft // 2
    span = np.zeros(int(centers[-1]) - int(centers[0]) + n_fft, dtype=np.float32)
    lo, hi = max(first, 0), min(first + len(span), snd.frames)
    pos = lo
    for block in iter_blocks(snd, lo, max(hi - lo, 0)):
        span[pos - first : pos - first + len(block)] = block.mean(axis=1)
        pos += len(block)
    return sliding_window_view(span, n_fft)[centers - centers[0]]


class _RowMap:
    """Maps a power spectrum (bins, columns) to image rows (height, columns), row 0 = lowest
    band. Row r covers [edge_r, edge_r+1) Hz, edges evenly spaced in mel or in Hz from
    `bottom` to `top`."""

    def __init__(
        self, rate: int, n_fft: int, height: int, top: float, scale: str, bottom: float = 0.0
    ) -> None:
        n_bins = n_fft // 2 + 1
        if scale == "mel":
            mels = np.linspace(_hz_to_mel(bottom), _hz_to_mel(top), height + 1)
            edges = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
        else:
            edges = np.linspace(bottom, top, height + 1)
        pos = edges * n_fft / rate  # fractional bin index of each edge
        self.lo = np.clip(np.ceil(pos[:-1]), 0, n_bins).astype(np.intp)
        self.hi = np.clip(np.ceil(pos[1:]), 0, n_bins).astype(np.intp)
        self.hi[-1] = min(int(math.floor(pos[-1])) + 1, n_bins)  # the top edge is inclusive
        self.hi = np.maximum(self.hi, self.lo)
        self.count = (self.hi - self.lo)[:, None]
        # Rows narrower than a bin hold no bin centre: interpolate at the row's centre.
        center = np.clip((pos[:-1] + pos[1:]) / 2, 0, n_bins - 1)
        self.i0 = np.minimum(np.floor(center).astype(np.intp), n_bins - 2)
        self.frac = (center - self.i0)[:, None]

    def apply(self, power: np.ndarray) -> np.ndarray:
        # float64 cumsum: differences of large sums must resolve -120 dB next to 0 dB.
        cum = np.zeros((power.shape[0] + 1, power.shape[1]), dtype=np.float64)
        np.cumsum(power, axis=0, out=cum[1:])
        mean = (cum[self.hi] - cum[self.lo]) / np.maximum(self.count, 1)
        interp = power[self.i0] * (1 - self.frac) + power[self.i0 + 1] * self.frac
        return np.where(self.count > 0, mean, interp)


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _colorize(db: np.ndarray) -> np.ndarray:
    """(height, width) dB to (height, width, 3) uint8 magma over DYNAMIC_RANGE_DB."""
    vmax = max(float(db.max()), SILENCE_DB + DYNAMIC_RANGE_DB)
    levels = (db - (vmax - DYNAMIC_RANGE_DB)) * (255.0 / DYNAMIC_RANGE_DB)
    return MAGMA_LUT[np.clip(levels, 0, 255).astype(np.uint8)]
