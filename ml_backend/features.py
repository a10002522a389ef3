"""Log-mel features: one-shot and streaming computation, .npy cache, fixed windows.

Pure NumPy/PyTorch; never imports Django.

Framing convention: the (resampled) signal is padded with ``n_fft // 2`` zeros at both
ends and cut into frames of ``n_fft`` samples every ``hop`` samples, so frame ``i`` is
centred on time ``i * hop_s`` seconds (``hop`` samples at the rate: not ``hop_ms`` where
the rate is no multiple of 100 Hz). The padding is done by hand (rather than
``center=True`` in the STFT) because it makes the streaming computation exact: every
frame is computed from exactly the same samples as in the one-shot computation.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch
import torchaudio

from ml_backend.audio_read import iter_spans
from ml_backend.feature_config import CACHE_FORMAT_VERSION as CACHE_FORMAT_VERSION
from ml_backend.feature_config import FeatureConfig as FeatureConfig
from ml_backend.feature_config import cache_path as cache_path
from ml_backend.feature_config import load_cached as load_cached

# Samples read per block when streaming a file (about 4 s at 16 kHz): bounds memory use.
STREAM_BLOCK_SAMPLES = 65_536
# torchaudio's default sinc-resampler settings; also used to size the block overlap.
_RESAMPLE_LOWPASS_WIDTH = 6
_RESAMPLE_ROLLOFF = 0.99


def feature_recipe(config: FeatureConfig) -> dict:
    """Every setting the model's input is computed with, resolved (no nulls), so that the
    features can be rebuilt outside Earmark: what `export_onnx` writes beside the model (its
    sidecar said "n_fft": null and left the mel scale, norm and padding out)."""
    return {
        "audio": f"channels averaged to mono; NaN and infinite samples set to 0, the others "
        f"clipped to +-{SAMPLE_LIMIT:g}",
        "sample_rate": config.sample_rate,
        "resample": {
            "method": "torchaudio.functional.resample (sinc_interp_hann)",
            "lowpass_filter_width": _RESAMPLE_LOWPASS_WIDTH,
            "rolloff": _RESAMPLE_ROLLOFF,
        },
        "padding": f"{config.fft_size // 2} zeros at both ends (n_fft // 2); no centring",
        "n_fft": config.fft_size,
        "win_length": config.win_length,
        "hop_length": config.hop_length,
        "window": "hann (periodic)",
        "power": 2.0,
        "n_mels": config.n_mels,
        "f_min": config.f_min,
        "f_max": config.f_max if config.f_max is not None else config.sample_rate / 2,
        "mel_scale": "slaney",
        "mel_norm": "slaney",
        "log": f"natural log of max(mel power, {config.log_floor})",
        "frames_per_second": config.frames_per_second,
        "model_input": "(batch, n_mels, window_frames): window k is log-mel frames "
        "k * window_hop_frames to k * window_hop_frames + window_frames, for k from 0 while "
        "the window before did not reach the clip's last frame (a clip of T frames: 1 window "
        "if T <= window_frames, else 1 + ceil((T - window_frames) / window_hop_frames)); "
        "frames past the clip's end (all but the first T of a clip shorter than a window, the "
        "end of the last window of a longer one) are the clip's smallest log-mel value; the "
        "clip's score of a class is the maximum over its windows of that window's probability "
        "(softmax of the window's clip_logits in a single-label project, sigmoid in a "
        "multi-label one), not the probability of the windows' maximum logits "
        "(ml_backend/infer.py, features.cut_windows)",
        "window_s": config.window_s,
        "window_hop_s": config.window_hop_s,
        "window_frames": config.window_frames,
        "window_hop_frames": config.window_hop_frames,
        "window_padding": "the clip's minimum log-mel value",
    }


@lru_cache(maxsize=16)
def _mel_transform(config: FeatureConfig) -> torchaudio.transforms.MelSpectrogram:
    # Cached per config: building the filterbank costs more than a short clip's STFT.
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate,
        n_fft=config.fft_size,
        win_length=config.win_length,
        hop_length=config.hop_length,
        f_min=config.f_min,
        f_max=config.f_max,
        n_mels=config.n_mels,
        power=2.0,
        center=False,
        norm="slaney",
        mel_scale="slaney",
    )


# Float samples past this are a broken file, not a loud one (full scale is 1): clipped here.
# Samples of 1e18 and more overflowed the mel power to Inf, and the log-mel to NaN.
SAMPLE_LIMIT = 1e3


def _finite(x: torch.Tensor) -> torch.Tensor:
    """Samples with NaN and +-Inf (a float file's clipping or a broken writer) set to 0, and
    samples past +-SAMPLE_LIMIT clipped to it: one such sample made every feature frame it
    reaches NaN, and a NaN feature stopped the project's cold-start clustering, training and
    scoring, for every clip."""
    # One pass: NaN propagates through max (and NaN <= limit is false), Inf is past it.
    if x.numel() == 0 or float(x.abs().max()) <= SAMPLE_LIMIT:
        return x
    x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)


def _to_mono_tensor(waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(samples,) or (samples, channels) or (channels, samples) -> float32 (samples,), every
    sample finite."""
    x = _finite(torch.as_tensor(waveform, dtype=torch.float32))
    if x.ndim == 2:
        # The longer axis is time: soundfile gives (samples, channels), torchaudio the reverse.
        x = x.mean(dim=1) if x.shape[0] >= x.shape[1] else x.mean(dim=0)
    elif x.ndim != 1:
        raise ValueError(f"waveform must be 1-D or 2-D, got shape {tuple(x.shape)}")
    return x


def _frames_to_logmel(padded: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """Already-padded samples -> log-mel (n_mels, frames) for every full frame."""
    with torch.no_grad():
        mel = _mel_transform(config)(padded)
    return torch.log(torch.clamp(mel, min=config.log_floor))


def compute_logmel(
    waveform: np.ndarray | torch.Tensor, sr: int, config: FeatureConfig | None = None
) -> np.ndarray:
    """Log-mel spectrogram of a whole waveform.

    Args:
        waveform: samples, (samples,) or 2-D multichannel (averaged to mono), any float scale.
        sr: waveform sample rate in Hz.
        config: feature settings (defaults to ``FeatureConfig()``).

    Returns:
        float32 array (n_mels, frames), natural-log power; frames = 1 + samples // hop
        (at the target rate), at least one frame.
    """
    config = config or FeatureConfig()
    x = _to_mono_tensor(waveform)
    if sr != config.sample_rate:
        x = torchaudio.functional.resample(x, sr, config.sample_rate)
    pad = config.fft_size // 2
    x = torch.nn.functional.pad(x, (pad, pad))
    if x.numel() < config.fft_size:
        x = torch.nn.functional.pad(x, (0, config.fft_size - x.numel()))
    return _frames_to_logmel(x, config).numpy().astype(np.float32, copy=False)


# Rows (clips) at most per batched log-mel call, and the padding a batch may add over its
# rows' own lengths: short clips are sorted by length and cut into batches within both.
BATCH_MAX_ROWS = 64
BATCH_MAX_PAD = 0.25


def compute_logmel_many(
    waveforms: list[np.ndarray], sr: int, config: FeatureConfig | None = None
) -> list[np.ndarray]:
    """``compute_logmel`` of many waveforms of one sample rate, in few transform calls.

    Each waveform is resampled on its own (zero padding would not change its samples, but
    resampling is rare and exact this way), then clips of similar length share one STFT and
    filterbank call: each row holds one clip, padded with zeros after its end, and only the
    frames that ``compute_logmel`` would make for it are kept. Those frames read none of the
    padding, so each result equals ``compute_logmel`` of its waveform (to float rounding).
    One call per short clip cost more in overhead than in arithmetic (benchmarks/prelabel_rank.py).

    Args:
        waveforms: mono (samples,) arrays, any float scale.
        sr: their sample rate in Hz.
        config: feature settings.

    Returns:
        float32 (n_mels, frames) per waveform, in the input order.
    """
    config = config or FeatureConfig()
    pad, n_fft, hop = config.fft_size // 2, config.fft_size, config.hop_length
    signals = []
    for w in waveforms:
        x = _to_mono_tensor(w)
        if sr != config.sample_rate:
            x = torchaudio.functional.resample(x, sr, config.sample_rate)
        signals.append(x)
    # Padded length of each row as compute_logmel pads it (at least one frame).
    lengths = [max(x.numel() + 2 * pad, n_fft) for x in signals]
    out: list[np.ndarray | None] = [None] * len(signals)
    order = sorted(range(len(signals)), key=lambda i: lengths[i])
    start = 0
    while start < len(order):
        end = start + 1
        # Sorted ascending: the batch's last row is its longest.
        while (
            end < len(order)
            and end - start < BATCH_MAX_ROWS
            and lengths[order[end]] <= lengths[order[start]] * (1 + BATCH_MAX_PAD)
        ):
            end += 1
        rows = order[start:end]
        width = lengths[rows[-1]]
        batch = torch.zeros(len(rows), width)
        for r, i in enumerate(rows):
            batch[r, pad : pad + signals[i].numel()] = signals[i]
        logmel = _frames_to_logmel(batch, config).numpy()
        for r, i in enumerate(rows):
            frames = 1 + (lengths[i] - n_fft) // hop
            # A copy: a view of the batch would keep all of its rows alive with this clip.
            out[i] = logmel[r, :, :frames].astype(np.float32, copy=True)
        start = end
    return out  # type: ignore[return-value]


def _read_blocks(reader: sf.SoundFile, block: int) -> Iterator[torch.Tensor]:
    """Mono float32 blocks of ``block`` samples (last one shorter) from an open file, from
    where it stands, each as one read of the whole file has it (an MP3 read block by block
    is not: ``audio_read``)."""
    if reader.seekable():
        for data in iter_spans(reader, reader.tell(), None, block):
            yield _finite(torch.from_numpy(data.mean(axis=1)))
        return
    while True:
        data = reader.read(block, dtype="float32", always_2d=True)
        if len(data) == 0:
            return
        yield _finite(torch.from_numpy(data.mean(axis=1)))


def _resampled_blocks(
    blocks: Iterator[torch.Tensor], sr_in: int, sr_out: int
) -> Iterator[torch.Tensor]:
    """Resample a stream of blocks so the concatenation equals one-shot resampling.

    Each output piece is resampled from its input piece plus ``context`` samples on both
    sides (the sinc kernel's reach), and pieces start at multiples of the reduced input
    rate so output samples fall on the same grid as in the one-shot computation.
    """
    if sr_in == sr_out:
        yield from blocks
        return
    g = math.gcd(sr_in, sr_out)
    step_in, step_out = sr_in // g, sr_out // g
    reach = math.ceil(
        _RESAMPLE_LOWPASS_WIDTH * step_in / (_RESAMPLE_ROLLOFF * min(step_in, step_out))
    )
    context = (math.ceil((reach + step_in) / step_in) + 1) * step_in
    piece = max(1, STREAM_BLOCK_SAMPLES // step_in) * step_in
    buf = torch.zeros(0)
    buf_start = 0  # input index of buf[0]
    done = 0  # input index up to which output has been emitted
    exhausted = False
    it = iter(blocks)
    while True:
        while not exhausted and buf_start + buf.numel() < done + piece + context:
            nxt = next(it, None)
            if nxt is None:
                exhausted = True
            else:
                buf = torch.cat([buf, nxt])
        buf_end = buf_start + buf.numel()
        if done >= buf_end:
            return
        end = min(done + piece, buf_end)
        lo = max(buf_start, done - context)
        hi = min(buf_end, end + context)
        out = torchaudio.functional.resample(buf[lo - buf_start : hi - buf_start], sr_in, sr_out)
        offset = (done - lo) // step_in * step_out
        count = math.ceil((end - done) * step_out / step_in)
        yield out[offset : offset + count]
        done = end
        # Keep only the context needed before the next piece.
        keep_from = max(buf_start, done - context)
        buf = buf[keep_from - buf_start :]
        buf_start = keep_from


def stream_logmel(
    source: str | os.PathLike[str] | BinaryIO | sf.SoundFile,
    config: FeatureConfig | None = None,
    block_samples: int = STREAM_BLOCK_SAMPLES,
) -> np.ndarray:
    """Log-mel of an audio file read in blocks, so a long file is never decoded whole.

    Matches ``compute_logmel`` on the decoded file to float32 rounding. Only the
    (much smaller) feature matrix is held in full.

    Args:
        source: path, binary file object, or an open ``soundfile.SoundFile``.
        config: feature settings.
        block_samples: samples read per block at the file's rate.

    Returns:
        float32 (n_mels, frames).
    """
    config = config or FeatureConfig()
    own = not isinstance(source, sf.SoundFile)
    reader = sf.SoundFile(source) if own else source
    try:
        if reader.seekable() and 0 < reader.frames - reader.tell() <= block_samples:
            # The whole file fits in one block: one read and one transform (short clips
            # are most of what gets labeled; the block machinery doubled their cost).
            data = reader.read(dtype="float32", always_2d=True)
            return compute_logmel(data.mean(axis=1), reader.samplerate, config)
        blocks = _resampled_blocks(
            _read_blocks(reader, block_samples), reader.samplerate, config.sample_rate
        )
        n_fft, hop, pad = config.fft_size, config.hop_length, config.fft_size // 2
        buf = torch.zeros(pad)
        outs: list[torch.Tensor] = []
        for block in blocks:
            buf = torch.cat([buf, block])
            if buf.numel() >= n_fft:
                n_frames = 1 + (buf.numel() - n_fft) // hop
                outs.append(_frames_to_logmel(buf[: (n_frames - 1) * hop + n_fft], config))
                buf = buf[n_frames * hop :]
        buf = torch.cat([buf, torch.zeros(pad)])
        if not outs and buf.numel() < n_fft:
            buf = torch.nn.functional.pad(buf, (0, n_fft - buf.numel()))
        if buf.numel() >= n_fft:
            outs.append(_frames_to_logmel(buf, config))
    finally:
        if own:
            reader.close()
    return torch.cat(outs, dim=1).numpy().astype(np.float32, copy=False)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    return h.hexdigest()


_writer: tuple[int, ThreadPoolExecutor] | None = None
_pending_writes: list[Future] = []


def _cache_writer() -> ThreadPoolExecutor:
    # One per process (a forked worker child must not share its parent's thread).
    global _writer
    if _writer is None or _writer[0] != os.getpid():
        _writer = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="features-cache"))
        _pending_writes.clear()
    return _writer[1]


def cache_writes_wait() -> None:
    """Block until features handed to the background writer are on disk (errors raised)."""
    while _pending_writes:
        _pending_writes.pop().result()


def _write_cache(path: Path, feats: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file then rename, so a concurrent reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, feats, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_cache(path: Path, feats: np.ndarray, background: bool) -> None:
    """Write a computed matrix now, or hand it to the writer thread (see ``cache_writes_wait``)."""
    if background:
        _pending_writes.append(_cache_writer().submit(_write_cache, path, feats))
    else:
        _write_cache(path, feats)


def load_or_compute(
    source: str | os.PathLike[str] | BinaryIO | sf.SoundFile,
    config: FeatureConfig,
    cache_root: str | os.PathLike[str] | None = None,
    clip_sha256: str | None = None,
    background_write: bool = False,
) -> np.ndarray:
    """Features of a clip from the .npy cache, computing (streaming) and saving on a miss.

    Args:
        source: path, binary file object or open SoundFile of the clip.
        config: feature settings; part of the cache key.
        cache_root: cache directory; ``None`` disables caching.
        clip_sha256: the clip's content hash; computed from ``source`` if it is a path.
        background_write: save a computed matrix on a writer thread (creating a file costs
            about as much as computing a short clip's features; on two cores the writes then
            overlap the next clips' work). Call ``cache_writes_wait`` before relying on it.

    Returns:
        float32 (n_mels, frames).
    """
    if cache_root is None:
        return stream_logmel(source, config)
    if clip_sha256 is None:
        if not isinstance(source, str | os.PathLike):
            raise ValueError("clip_sha256 is required when source is not a path")
        clip_sha256 = file_sha256(source)
    cached = load_cached(cache_root, clip_sha256, config)
    if cached is not None:
        return cached
    feats = stream_logmel(source, config)
    _save_cache(cache_path(cache_root, clip_sha256, config), feats, background_write)
    return feats


# Files a ``load_or_compute_many`` call decodes before computing and caching their features:
# bounds the decoded audio held at once (short clips only, so at most about 67 MB at 256).
MANY_CHUNK = 256


def load_or_compute_many(
    sources: list[str | os.PathLike[str]],
    config: FeatureConfig,
    cache_root: str | os.PathLike[str],
    clip_sha256s: list[str],
    background_write: bool = False,
) -> list[np.ndarray]:
    """``load_or_compute`` for many local files: cached features are read; of the rest, each
    file is opened once, and the short ones (one block or less) of a sample rate share
    batched log-mel calls (``compute_logmel_many``); long ones stream as before.

    Works through the sources ``MANY_CHUNK`` at a time, so the decoded samples held at once
    stay bounded however many are asked for. A file that cannot be read raises, as
    ``load_or_compute`` does; the chunks before it are cached, its own chunk is not.

    Returns:
        float32 (n_mels, frames) per source, in order; equal to ``load_or_compute``'s.
    """
    if len(sources) != len(clip_sha256s):
        raise ValueError("one clip_sha256 per source is required")
    out: list[np.ndarray] = []
    for start in range(0, len(sources), MANY_CHUNK):
        end = start + MANY_CHUNK
        out.extend(
            _load_or_compute_chunk(
                sources[start:end], config, cache_root, clip_sha256s[start:end], background_write
            )
        )
    return out


def _load_or_compute_chunk(
    sources: list[str | os.PathLike[str]],
    config: FeatureConfig,
    cache_root: str | os.PathLike[str],
    clip_sha256s: list[str],
    background_write: bool,
) -> list[np.ndarray]:
    out: list[np.ndarray | None] = []
    short: dict[int, list[tuple[int, np.ndarray]]] = {}  # sample rate -> (index, samples)
    computed: list[int] = []
    for i, (source, sha) in enumerate(zip(sources, clip_sha256s, strict=True)):
        cached = load_cached(cache_root, sha, config)
        out.append(cached)
        if cached is not None:
            continue
        computed.append(i)
        with sf.SoundFile(source) as reader:
            if reader.seekable() and 0 < reader.frames <= STREAM_BLOCK_SAMPLES:
                data = reader.read(dtype="float32", always_2d=True)
                short.setdefault(reader.samplerate, []).append((i, data.mean(axis=1)))
            else:
                out[i] = stream_logmel(reader, config)
    for sr, items in short.items():
        feats = compute_logmel_many([w for _, w in items], sr, config)
        for (i, _), f in zip(items, feats, strict=True):
            out[i] = f
    for i in computed:
        _save_cache(cache_path(cache_root, clip_sha256s[i], config), out[i], background_write)
    return out  # type: ignore[return-value]


def crop_to_spans(
    features: np.ndarray, spans: list[tuple[float, float]], frames_per_second: float
) -> np.ndarray:
    """The frames of (n_mels, T) features inside `spans` (seconds), joined in time order: what
    a clip labeled only through its segments teaches (the rest of a long recording is not
    what the label names). A copy; the features themselves when no span holds a frame."""
    if features.ndim != 2:
        raise ValueError(f"features must be (n_mels, T), got {features.shape}")
    total = features.shape[1]
    parts = []
    for start, end in sorted(spans):
        a = max(0, int(math.floor(start * frames_per_second)))
        b = min(total, int(math.ceil(end * frames_per_second)))
        if b > a:
            parts.append(features[:, a:b])
    if not parts:
        return features
    # A copy, not a view: a view would keep the whole recording's features in memory.
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0].copy()


def spread_windows(features: np.ndarray, window_frames: int, count: int) -> np.ndarray:
    """Up to `count` windows of (n_mels, T) features, spread evenly from the first frame to
    the last (a long recording gives windows from its whole length, not its first seconds); a
    clip shorter than a window gives one, padded as `cut_windows` pads. A copy, (k, n_mels,
    window_frames)."""
    frames = features.shape[1]
    if frames <= window_frames:
        return cut_windows(features, window_frames, window_frames)[:1]
    starts = np.unique(np.linspace(0, frames - window_frames, count).round().astype(int))
    return np.stack([features[:, s : s + window_frames] for s in starts]).astype(
        np.float32, copy=False
    )


def bound_windows(features: np.ndarray, *, max_frames: int, window_frames: int) -> np.ndarray:
    """(n_mels, T) features of at most `max_frames` frames as they are; longer ones as
    `spread_windows`, max_frames // window_frames of them, (k, n_mels, window_frames): each a
    stretch of the recording as it was (joined and cut again, windows would straddle the
    gaps between them), none keeping the whole recording's features alive."""
    if features.shape[1] <= max_frames:
        return features
    return spread_windows(features, window_frames, max(1, max_frames // window_frames))


def cut_windows(
    features: np.ndarray,
    frames_per_window: int,
    hop_frames: int,
    pad_value: float | None = None,
) -> np.ndarray:
    """Cut (n_mels, T) features into overlapping fixed-length windows.

    The last window is padded at the end so every frame is covered; a clip shorter than
    one window gives one padded window.

    Args:
        features: (n_mels, T).
        frames_per_window: window length in frames.
        hop_frames: hop between window starts in frames.
        pad_value: padding value; ``None`` uses the clip's minimum (quietest) value,
            which looks like silence to the model.

    Returns:
        (n_windows, n_mels, frames_per_window), same dtype; window ``k`` starts at frame
        ``k * hop_frames``.
    """
    if features.ndim != 2:
        raise ValueError(f"features must be (n_mels, T), got {features.shape}")
    if frames_per_window < 1 or hop_frames < 1:
        raise ValueError("frames_per_window and hop_frames must be >= 1")
    n_mels, t = features.shape
    n_windows = n_windows_for(t, frames_per_window, hop_frames)
    total = (n_windows - 1) * hop_frames + frames_per_window
    if pad_value is None:
        pad_value = float(features.min()) if features.size else 0.0
    padded = np.full((n_mels, total), pad_value, dtype=features.dtype)
    padded[:, :t] = features
    starts = np.arange(n_windows) * hop_frames
    idx = starts[:, None] + np.arange(frames_per_window)[None, :]
    return np.ascontiguousarray(padded[:, idx].transpose(1, 0, 2))


def n_windows_for(n_frames: int, frames_per_window: int, hop_frames: int) -> int:
    """Number of windows ``cut_windows`` makes from ``n_frames`` frames."""
    if n_frames <= frames_per_window:
        return 1
    return 1 + math.ceil((n_frames - frames_per_window) / hop_frames)


def summary_features(features: np.ndarray) -> np.ndarray:
    """Cheap per-clip vector for cold start: per-band mean and std, (2 * n_mels,)."""
    return np.concatenate([features.mean(axis=1), features.std(axis=1)]).astype(np.float32)
