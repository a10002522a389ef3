"""A corpus of hostile audio files: lying headers, absurd claims, random bytes.

Each file is small on disk (the 10-hour 192 kHz recording is a header that claims it, or a
sparse file) so the corpus builds in milliseconds. `EXPECT` says what an import must do with
each: "rejected" (a clear per-file reason), or "either" (accepted with the length the file
really holds, or rejected with a reason), never a 500, never a row for a rejected file.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 8000  # Hz: the real audio inside the files is short and cheap


def _pcm(seconds: float = 1.0, channels: int = 1, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal((int(seconds * SR), channels)) * 3000).astype("<i2")
    return samples.tobytes()


def _fmt(channels: int, sr: int, bits: int = 16, *, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", 1, channels, sr, sr * align, align, bits) + extra
    return b"fmt " + struct.pack("<I", len(body)) + body


def _riff(chunks: bytes, *, riff_size: int | None = None) -> bytes:
    size = len(chunks) + 4 if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size) + b"WAVE" + chunks


def _data(payload: bytes, *, declared: int | None = None) -> bytes:
    size = len(payload) if declared is None else declared
    return b"data" + struct.pack("<I", size) + payload


def _rf64(channels: int, sr: int, data_bytes: int, payload: bytes) -> bytes:
    """An RF64 (64-bit sizes) WAV whose ds64 chunk declares `data_bytes` of audio."""
    ds64 = b"ds64" + struct.pack("<I", 28) + struct.pack("<QQQI", data_bytes + 36, data_bytes, 0, 0)
    return (
        b"RF64"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + ds64
        + _fmt(channels, sr)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
        + payload
    )


def _mp3(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 440 * t), 16000, format="MP3")
    return buf.getvalue()


def _id3(claimed: int, actual: int) -> bytes:
    """An ID3v2.4 tag header claiming `claimed` bytes of tag, followed by `actual` bytes."""
    syncsafe = bytes([(claimed >> 21) & 0x7F, (claimed >> 14) & 0x7F, (claimed >> 7) & 0x7F])
    syncsafe += bytes([claimed & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * actual


TEN_HOURS_192K_BYTES = 10 * 3600 * 192_000 * 2 * 2  # 10 h, stereo, 16-bit: 27.6 GB


def corpus() -> dict[str, bytes]:
    one_second = _pcm(1.0)
    rng = np.random.default_rng(7)
    mp3 = _mp3()
    return {
        "truncated-header.wav": _riff(_fmt(1, SR) + _data(one_second))[:20],
        "lying-size.wav": _riff(_fmt(1, SR) + _data(one_second, declared=60 * SR * 2)),
        "riff-claims-4gb.wav": _riff(
            _fmt(1, SR) + _data(one_second, declared=0xFFFFFFF0), riff_size=0xFFFFFFFF
        ),
        "rf64-claims-terabytes.wav": _rf64(1, SR, 5 * 2**40, one_second),
        "ten-hours-192k.wav": _rf64(2, 192_000, TEN_HOURS_192K_BYTES, _pcm(0.5, channels=2)),
        "zero-channels.wav": _riff(_fmt(0, SR) + _data(one_second)),
        "zero-sample-rate.wav": _riff(_fmt(1, 0) + _data(one_second)),
        "ten-thousand-channels.wav": _riff(_fmt(10_000, SR) + _data(one_second)),
        "fmt-chunk-claims-4gb.wav": _riff(b"fmt " + struct.pack("<I", 0xFFFFFFF0) + b"\0" * 64),
        "endless-chunks.wav": _riff(
            b"".join(b"junk" + struct.pack("<I", 2) + b"\0\0" for _ in range(5000))
            + _fmt(1, SR)
            + _data(one_second)
        ),
        "random-bytes.wav": bytes(rng.integers(0, 256, 64 * 1024, dtype=np.uint8)),
        "html-page.wav": b"<!doctype html><html><script>alert(document.cookie)</script></html>",
        "id3-claims-256mb.mp3": _id3(2**28 - 1, 64 * 1024) + mp3,
        "huge-real-id3.mp3": _id3(6 * 2**20, 6 * 2**20) + mp3,
        "mp3-cut-in-half.mp3": mp3[: len(mp3) // 2 + 7],
    }


# rejected: a clear reason and no row. either: imported with what the file really holds, or
# rejected with a reason (an absurd length claim may be read as "length unknown").
EXPECT = {
    "truncated-header.wav": "rejected",
    "lying-size.wav": "rejected",
    "riff-claims-4gb.wav": "either",
    "rf64-claims-terabytes.wav": "either",
    "ten-hours-192k.wav": "rejected",
    "zero-channels.wav": "rejected",
    "zero-sample-rate.wav": "rejected",
    "ten-thousand-channels.wav": "rejected",
    "fmt-chunk-claims-4gb.wav": "rejected",
    "endless-chunks.wav": "either",
    "random-bytes.wav": "rejected",
    "html-page.wav": "rejected",
    "id3-claims-256mb.mp3": "rejected",
    "huge-real-id3.mp3": "either",
    "mp3-cut-in-half.mp3": "either",
}
MAX_REAL_SECONDS = 2.0  # no file of the corpus holds more audio than this


def write_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in corpus().items():
        path = folder / name
        path.write_bytes(content)
        paths[name] = path
    return paths


def write_sparse_ten_hours(path: Path) -> Path:
    """A real-size 10-hour 192 kHz stereo WAV (27.6 GB) that takes no disk: an RF64 header,
    half a second of audio, then a hole up to the size the header declares."""
    head = _rf64(2, 192_000, TEN_HOURS_192K_BYTES, _pcm(0.5, channels=2))
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) - len(_pcm(0.5, channels=2)) + TEN_HOURS_192K_BYTES)
    return path
