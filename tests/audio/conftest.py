"""Audio fixtures generated with numpy + soundfile: good files in each format and bad ones.

Everything is written under pytest's tmp dirs; nothing is committed. The long file is
written block by block so that generating it is itself memory-bounded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audio._signals import (
    FSDD_DIR,
    LONG_RATE,
    LONG_S,
    MEDIUM_S,
    RATE,
    SHORT_S,
    syncsafe,
    tone,
    write_blocks,
)


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write_audio(name, data, rate, **soundfile kwargs) -> path."""

    def write(name: str, data: np.ndarray, rate: int = RATE, **kwargs) -> Path:
        path = tmp_path / name
        sf.write(path, data, rate, **kwargs)
        return path

    return write


@pytest.fixture
def sine_wav(write_audio) -> Path:
    return write_audio("sine.wav", tone(SHORT_S, RATE), subtype="PCM_16")


@pytest.fixture
def stereo_96k_wav(write_audio) -> Path:
    left = tone(2.0, 96000, 1000.0, 0.25)
    right = tone(2.0, 96000, 3000.0, 0.75)
    return write_audio("stereo96k.wav", np.stack([left, right], axis=1), 96000, subtype="FLOAT")


@pytest.fixture
def flac_file(write_audio) -> Path:
    return write_audio("sine.flac", tone(SHORT_S, RATE), format="FLAC", subtype="PCM_16")


@pytest.fixture
def ogg_file(write_audio) -> Path:
    return write_audio("sine.ogg", tone(SHORT_S, RATE), format="OGG", subtype="VORBIS")


@pytest.fixture
def mp3_file(write_audio) -> Path:
    return write_audio("sine.mp3", tone(SHORT_S, RATE), format="MP3", subtype="MPEG_LAYER_III")


@pytest.fixture
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


@pytest.fixture
def random_bytes_wav(tmp_path: Path) -> Path:
    path = tmp_path / "random.wav"
    path.write_bytes(b"\x00" + np.random.default_rng(0).bytes(20000))  # no magic, no sync
    return path


@pytest.fixture
def truncated_wav(sine_wav: Path, tmp_path: Path) -> Path:
    """Header intact (declares 3 s), data cut after about 1 s."""
    data = sine_wav.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: 44 + 2 * RATE])
    return path


@pytest.fixture
def huge_claim_wav(sine_wav: Path, tmp_path: Path) -> Path:
    """A 3 s WAV whose RIFF and data sizes claim about 4 GiB."""
    data = bytearray(sine_wav.read_bytes())
    assert data[36:40] == b"data"
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    data[40:44] = struct.pack("<I", 0xFFFFFFE0)
    path = tmp_path / "huge_claim.wav"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def terabyte_rf64(tmp_path: Path) -> Path:
    """A 1 s RF64 whose ds64 chunk claims 2 TiB of data."""
    path = tmp_path / "huge.rf64"
    sf.write(path, tone(1.0, RATE), RATE, format="RF64", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    ds64 = data.find(b"ds64")
    data[ds64 + 16 : ds64 + 24] = struct.pack("<Q", 2 << 40)  # riff size, then data size
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def zero_channel_wav(tmp_path: Path) -> Path:
    """A crafted 16-bit PCM WAV header saying 0 channels, followed by some data."""
    payload = bytes(4000)
    fmt = struct.pack("<HHIIHH", 1, 0, RATE, 0, 0, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    path = tmp_path / "zero_channels.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture
def zero_frames_wav(write_audio) -> Path:
    return write_audio("zero_frames.wav", np.zeros(0, dtype=np.float32), subtype="PCM_16")


@pytest.fixture
def huge_id3_mp3(mp3_file: Path, tmp_path: Path) -> Path:
    """A valid MP3 behind a 4 MB ID3v2.3 tag (one TXXX frame then padding)."""
    size = 4_000_000
    text = b"\x00comment\x00" + b"x" * 1000
    frame = b"TXXX" + struct.pack(">I", len(text)) + b"\x00\x00" + text
    tag = b"ID3\x03\x00\x00" + syncsafe(size) + frame + bytes(size - len(frame))
    path = tmp_path / "big_id3.mp3"
    path.write_bytes(tag + mp3_file.read_bytes())
    return path


@pytest.fixture(scope="session")
def medium_wav(tmp_path_factory) -> Path:
    """Ten minutes, 8 kHz mono PCM_16 (9.6 MB)."""
    return write_blocks(tmp_path_factory.mktemp("medium") / "medium.wav", MEDIUM_S, LONG_RATE)


@pytest.fixture(scope="session")
def long_wav(tmp_path_factory) -> Path:
    """One hour, 8 kHz mono PCM_16 (57.6 MB), written in one-minute blocks."""
    return write_blocks(tmp_path_factory.mktemp("long") / "long.wav", LONG_S, LONG_RATE)


@pytest.fixture
def fsdd_clip() -> Path:
    clips = sorted(FSDD_DIR.glob("*.wav")) if FSDD_DIR.is_dir() else []
    if not clips:
        pytest.skip(f"FSDD recordings not found at {FSDD_DIR}; real-clip test skipped")
    return clips[0]
