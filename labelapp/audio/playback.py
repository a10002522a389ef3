"""What the browser plays: the original file where the browser seeks in it exactly, else the
same audio as 16-bit PCM WAV, decoded by the server for the bytes asked.

Chromium seeks in a VBR MP3 by estimating (the tone at 10 s of a VBR file was heard 0.9 s off
the playhead after a seek, and +0.5 s, -0.3 s elsewhere) and in Ogg Vorbis by up to 0.4 s on
a second seek to the same place, while the waveform, drawn from the server's exact decode,
shows the sound where it is. An annotator who seeks, listens and marks a segment by ear then
marks it wrong. A WAV's byte offset is its time: a seek lands on the sample. The same serves
what Chromium cannot play at all (AIFF, CAF, W64, a 64-bit float WAV).

No Django here: `PcmWavFile` is a read-only file object (seek, read, close) over an open
SoundFile, so the ranged responses of stored files serve it unchanged. Nothing is decoded
before it is read, and a read decodes one block of `BLOCK` frames at a time (read_at: the
same samples as one read of the whole file)."""

from __future__ import annotations

import struct

import numpy as np
import soundfile as sf

from labelapp.audio._util import SeekableReader
from ml_backend.audio_read import read_at

BLOCK = 65536  # frames decoded at a time (1.5 s at 44.1 kHz); reads within it are free
HEADER_BYTES = 44
# Played as stored: formats (and WAV encodings) Chromium decodes and seeks in exactly.
NATIVE_WAV_CODECS = {"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"}
MAX_RIFF_BYTES = 2**32 - 1


def plays_as_stored(format: str, codec: str) -> bool:
    fmt, codec = (format or "").upper(), (codec or "").upper()
    if fmt in ("WAV", "WAVEX"):
        return codec in NATIVE_WAV_CODECS
    if fmt == "FLAC":
        return True
    if fmt == "OGG":
        return codec == "OPUS"  # Vorbis: seeks land up to 0.4 s off
    return False  # MP3 (VBR seeks up to 0.9 s off), AIFF, CAF, W64, AU, ...


def pcm_wav_size(frames: int, channels: int) -> int:
    return HEADER_BYTES + frames * channels * 2


def fits_wav(frames: int, channels: int) -> bool:
    """A RIFF file's sizes are 32-bit: 6 h of 96 kHz stereo (8.3 GB) does not fit; such a
    clip plays as stored."""
    return pcm_wav_size(frames, channels) - 8 <= MAX_RIFF_BYTES


def wav_header(frames: int, channels: int, rate: int) -> bytes:
    data = frames * channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        rate,
        rate * channels * 2,
        channels * 2,
        16,
        b"data",
        data,
    )


class PcmWavFile(SeekableReader):
    """`frames` frames of `snd` as a 16-bit PCM WAV file, for reading. Frames past what the
    decoder gives (an MP3's length is the probe's estimate) read as silence, and the decoder's
    frames past `frames` are left out, so the file is exactly as long as its header says."""

    def __init__(self, snd: sf.SoundFile, frames: int, *, on_close=None) -> None:
        super().__init__(pcm_wav_size(frames, snd.channels), on_close=on_close)
        self.snd = snd
        self.frames = frames
        self.channels = snd.channels
        self._header = wav_header(frames, self.channels, snd.samplerate)
        self._block_start = -1  # the first frame of the decoded block held in _block
        self._block = b""

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        parts = []
        while self._pos < end:
            if self._pos < HEADER_BYTES:
                take = self._header[self._pos : min(end, HEADER_BYTES)]
            else:
                frame_bytes = self.channels * 2
                offset = self._pos - HEADER_BYTES
                block = self._decoded(offset // frame_bytes // BLOCK * BLOCK)
                at = offset - self._block_start * frame_bytes
                take = block[at : at + (end - self._pos)]
                if not take:  # cannot happen: a block covers its frames, silence padded
                    break
            parts.append(take)
            self._pos += len(take)
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _decoded(self, start: int) -> bytes:
        if start != self._block_start:
            want = min(BLOCK, self.frames - start)
            data = read_at(self.snd, start, want)[:want]
            if len(data) < want:
                data = np.concatenate(
                    [data, np.zeros((want - len(data), self.channels), dtype=np.float32)]
                )
            pcm = np.clip(np.rint(data * 32767.0), -32768, 32767).astype("<i2")
            self._block, self._block_start = pcm.tobytes(), start
        return self._block

    def _closing(self) -> None:
        self._block = b""
        self.snd.close()
