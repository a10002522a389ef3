"""Signal generators and constants shared by the audio tests and their fixtures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 8000  # Hz, for the short fixtures
SHORT_S = 3.0  # seconds
TONE_HZ = 1000.0
LONG_S = 3600  # seconds: the one-hour file
LONG_RATE = 8000  # Hz
MEDIUM_S = 600  # seconds: ten minutes, for byte-counting and sparse spectrograms
FSDD_DIR = Path("/work/shared/datasets/fsdd/recordings")


def tone(seconds: float, rate: int, hz: float = TONE_HZ, amplitude: float = 0.5) -> np.ndarray:
    """Float32 sine, shape (frames,)."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_blocks(path: Path, seconds: int, rate: int, block_s: int = 60) -> Path:
    """A long mono PCM_16 WAV of a tone plus noise, generated one block at a time."""
    rng = np.random.default_rng(7)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        for i in range(0, seconds, block_s):
            t = (np.arange(block_s * rate) + i * rate) / rate
            block = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
            out.write(block.astype(np.float32))
    return path


def syncsafe(n: int) -> bytes:
    """ID3v2 size: 4 bytes of 7 bits each."""
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


class CountingReader:
    """A bare seekable reader (read/seek/tell only, like a storage backend's file) that
    counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.bytes_read = 0
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._buffer.read(size)
        self.bytes_read += len(chunk)
        self.reads += 1
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        return self._buffer.tell()
