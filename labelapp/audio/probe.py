"""Probing: what an uploaded file is, and whether it can be decoded from start to end.

`probe` reads the container header, decodes one block at the start and one block near the
end (reached by seeking), and never decodes the rest: a one-hour WAV probes in milliseconds.

WAV length claims. libsndfile clamps a WAV whose data chunk declares more bytes than the file
holds to what is there. We tell two cases apart:

* a declared size of at least `RIFF_UNKNOWN_SIZE_BYTES` (RF64: `RF64_UNKNOWN_SIZE_BYTES`) is
  not a real length but a "length unknown" marker (writers that could not seek back, such as
  ffmpeg or sox writing to a pipe, leave 0xFFFFFFFF or similar) or an absurd claim: accepted,
  and the length reported is what the file actually holds;
* a plausible size that the file falls short of is a cut-off upload: rejected as truncated.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import soundfile as sf

from labelapp.audio._util import fmt_duration, read_exact
from ml_backend.audio_read import read_at

Source = str | os.PathLike[str] | BinaryIO

PROBE_BLOCK_FRAMES = 4096  # frames decoded at the start and near the end of the stream
DEFAULT_MAX_CHANNELS = 64
RIFF_UNKNOWN_SIZE_BYTES = 0x7FFF0000  # bytes; a 32-bit WAV data size this large = unknown
RF64_UNKNOWN_SIZE_BYTES = 1 << 40  # bytes (1 TiB); an RF64 data size this large = unknown
MAX_RIFF_CHUNKS = 256  # chunks scanned before giving up on finding 'data'

NOT_AUDIO = "not an audio file (no WAV, FLAC, OGG, MP3, AIFF, CAF or AU header found)"
EMPTY = "file is empty"
ZERO_CHANNELS = "zero channels"
# A header that promises no samples: a file cut short in transfer reads so (an OGG's first
# 5,000 bytes), and "zero duration" alone read as a silent recording.
ZERO_DURATION = "no audio samples: the file is empty of sound or cut short (truncated)"
UNFINISHED_WAV = (
    "the WAV header was never finished: it says the audio is 0 bytes long, but audio follows "
    "it (a recorder that lost power or was stopped mid-file leaves this). Repair a copy with "
    "`sox --ignore-length IN.wav OUT.wav` (or `ffmpeg -i IN.wav OUT.wav`) and import that"
)
TRUNCATED = "audio is truncated or corrupt"


class AudioError(ValueError):
    """A file that cannot be used as audio. str() is a one-line message fit for users."""


@dataclass(frozen=True)
class AudioInfo:
    """What `probe` found. `frames` and `duration` (seconds) are what can actually be read."""

    format: str  # libsndfile major format: "WAV", "FLAC", "OGG", "MP3", "RF64", ...
    codec: str  # libsndfile subtype: "PCM_16", "FLOAT", "VORBIS", "MPEG_LAYER_III", ...
    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    duration: float  # seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unfinished_wav(source: Source) -> bool:
    """A RIFF/WAVE file whose data chunk says 0 bytes while bytes follow it."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return _unfinished_wav(fh)
    position = source.tell()
    try:
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(0)
        head = source.read(1 << 16)
    finally:
        source.seek(position)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    at = 12
    while at + 8 <= len(head):
        chunk, length = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if chunk == b"data":
            return length == 0 and size > at + 8
        at += 8 + length + (length & 1)
    return False


def probe(
    source: Source,
    *,
    max_duration_s: float | None = None,
    max_channels: int = DEFAULT_MAX_CHANNELS,
) -> AudioInfo:
    """Identify and validate an audio file without decoding it whole.

    `source` is a path or a seekable binary file object (its position is restored).
    Raises AudioError for an empty file, a file that is not audio, zero channels, more than
    `max_channels` channels, zero duration, a duration over `max_duration_s` seconds, or a
    stream that cannot be decoded at its start or near its end (truncated or corrupt).
    """
    with open_audio(source) as snd:
        channels, sample_rate, frames = snd.channels, snd.samplerate, snd.frames
        if channels <= 0:
            raise AudioError(ZERO_CHANNELS)
        if sample_rate <= 0:
            raise AudioError(f"invalid sample rate {sample_rate} Hz")
        if channels > max_channels:
            raise AudioError(f"too many channels: {channels} (the limit is {max_channels})")
        if frames <= 0:
            if snd.format in ("WAV", "WAVEX") and _unfinished_wav(source):
                raise AudioError(UNFINISHED_WAV)
            raise AudioError(ZERO_DURATION)
        # Reject over-long files on the header's word before decoding anything.
        _check_duration(frames / sample_rate, max_duration_s)
        if snd.format == "MP3":
            frames = _check_mp3_length(source, frames, sample_rate)
        _decode_or_fail(snd, 0, PROBE_BLOCK_FRAMES, "the start of the stream")
        tail_start = max(0, frames - PROBE_BLOCK_FRAMES)
        got = _decode_or_fail(snd, tail_start, frames - tail_start, "the end of the stream")
        # A compressed stream whose header over-states its length (estimated MP3 lengths)
        # ends early: report the frames that can actually be read.
        frames = tail_start + got
        return AudioInfo(
            format=snd.format,
            codec=snd.subtype,
            sample_rate=sample_rate,
            channels=channels,
            frames=frames,
            duration=frames / sample_rate,
        )


MP3_UNDERSTATED = (
    "this MP3 has no length header (Xing/LAME: an MP3 written to a pipe has none), so its "
    "decoder stops at its estimate, {estimate:.1f} s, of its {actual:.1f} s; everything after "
    "would be lost. Re-mux a copy, which writes the header, and import that: "
    "`ffmpeg -i IN.mp3 -c copy OUT.mp3` (or convert it: `ffmpeg -i IN.mp3 OUT.flac`)"
)
# MPEG audio frame headers: bitrates (kbit/s) by version and index for Layer III, and rates.
_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


def _check_mp3_length(source: Source, frames: int, sample_rate: int) -> int:
    """An MP3 without a Xing/LAME/VBRI header is as long as libsndfile estimates from its
    first frame's bitrate, and it decodes no further: a variable-bitrate one written to a pipe
    was kept as 107.7 s of its 300 s (and played, drawn and labeled so). Its MPEG frames are
    counted (their headers only) and the file refused when they hold more than the estimate.
    Returns the frames to take: the estimate, or the count where it is the smaller."""
    counted = _mp3_counted_frames(source)
    if counted is None:
        return frames
    if counted - frames > max(sample_rate, 0.01 * frames):
        raise AudioError(
            MP3_UNDERSTATED.format(estimate=frames / sample_rate, actual=counted / sample_rate)
        )
    # An estimate a little over (a CBR stream's, from its size): its tail is looked for where
    # the frames end (0.14 s past them, the end "could not be decoded").
    return min(frames, counted)


def _mp3_counted_frames(source: Source) -> int | None:
    """Samples per channel an MP3's Layer III frames hold, from their headers (read in 1 MB
    pieces: the file is never held whole); None when it has a length header (libsndfile
    reads it) or is not a plain run of Layer III frames."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return _mp3_counted_frames(fh)
    position = source.tell()
    try:
        source.seek(0)
        return _mp3_frames_from(source)
    finally:
        source.seek(position)


def _mp3_frames_from(fh: IO[bytes]) -> int | None:
    data, base = read_exact(fh, 1 << 20), 0  # base: the file offset of data[0]
    at = _id3_size(data)  # the frames start after the tag
    samples, first = 0, True
    while True:
        if at - base + 2048 > len(data):  # the next frame (at most 1,441 bytes) in memory
            fh.seek(at)
            data, base = read_exact(fh, 1 << 20), at
        i = at - base
        if i + 4 > len(data):
            break
        b1, b2 = data[i + 1], data[i + 2]
        if data[i] != 0xFF or b1 & 0xE0 != 0xE0 or (b1 >> 1) & 3 != 1:  # Layer III sync
            break
        version = {3: 1, 2: 2, 0: 25}.get((b1 >> 3) & 3)
        index, rate_index = b2 >> 4, (b2 >> 2) & 3
        if version is None or index in (0, 15) or rate_index == 3:
            break
        rate = _MP3_RATES[version][rate_index]
        size = (144 if version == 1 else 72) * _MP3_BITRATES[min(version, 2)][index] * 1000 // rate
        size += (b2 >> 1) & 1
        if first:
            first = False
            if any(tag in data[i : i + size] for tag in (b"Xing", b"Info", b"VBRI")):
                return None  # a length header: libsndfile's length is read, not estimated
        samples += 1152 if version == 1 else 576
        at += size
    return samples or None


@contextlib.contextmanager
def open_audio(source: Source) -> Iterator[sf.SoundFile]:
    """Open `source` with libsndfile, mapping failures to AudioError.

    The container is sniffed first so that "not audio" and "damaged audio" get different
    messages. A file object is read from offset 0 and its position is restored on exit. A
    missing path raises FileNotFoundError (a storage problem, not a property of the audio).
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        size = path.stat().st_size
        if size == 0:
            raise AudioError(EMPTY)
        with open(path, "rb") as fh:
            kind = _sniff(fh, size)
        with _soundfile(str(path), kind) as snd:
            yield snd
        return

    fileobj = source
    position = fileobj.tell()
    try:
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell()  # not seek's return value: some wrappers return None
        if size == 0:
            raise AudioError(EMPTY)
        fileobj.seek(0)
        kind = _sniff(fileobj, size)
        fileobj.seek(0)
        with _soundfile(fileobj, kind) as snd:
            yield snd
    finally:
        fileobj.seek(position)


@contextlib.contextmanager
def _soundfile(target: str | BinaryIO, kind: str) -> Iterator[sf.SoundFile]:
    try:
        snd = sf.SoundFile(target)
    except sf.LibsndfileError as exc:
        reason = exc.error_string.rstrip(".")
        if "channel count is zero" in reason.lower():
            raise AudioError(ZERO_CHANNELS) from None
        if "does not exist or is not a regular file" in reason:
            # What libsndfile says of an MP3 whose stream ends in or right after its header.
            reason = "no audio frames follow it"
        raise AudioError(f"{TRUNCATED}: the {kind} header could not be parsed ({reason})") from None
    except (RuntimeError, TypeError) as exc:
        raise AudioError(f"{TRUNCATED}: {exc}") from None
    with snd:
        yield snd


def _decode_or_fail(snd: sf.SoundFile, start: int, count: int, where: str) -> int:
    """Decode `count` frames from frame `start`; return how many came back (>= 1). An MP3
    is read from before `start`, quietly (`ml_backend.audio_read`)."""
    if count <= 0 or start < 0:
        # A damaged MP3 whose frames counted fewer than its start (a corrupt middle third
        # answered 500, "negative dimensions are not allowed").
        raise AudioError(f"{TRUNCATED}: could not decode {where}")
    try:
        got = len(read_at(snd, start, count))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{TRUNCATED}: could not decode {where} ({exc})") from None
    if got == 0:
        raise AudioError(f"{TRUNCATED}: could not decode {where}")
    return got


def _check_duration(duration: float, limit: float | None) -> None:
    if limit is not None and duration > limit:
        unit = "h" if limit >= 3600 else "min" if limit >= 60 else "s"
        raise AudioError(
            f"duration {fmt_duration(duration, unit)} exceeds the limit of "
            f"{fmt_duration(limit, unit)}"
        )


def _sniff(fh: IO[bytes], size: int) -> str:
    """Name the container from its magic bytes; AudioError if it is no known audio format.

    WAV headers are also checked here (zero channels, cut-off data), where libsndfile would
    give a vaguer message or silently clamp.
    """
    head = read_exact(fh, 12)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        _check_wav(fh, size, rf64=False)
        return "WAV"
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        _check_wav(fh, size, rf64=True)
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] in (b"caff", b".snd") or (head[:4] == b"riff" and head[4:8] == b"\x2e\x91\xcf\x11"):
        return "audio"  # CAF, AU or Wave64: let libsndfile read them
    if tag := _id3_size(head):
        if tag >= size:
            raise AudioError(f"{TRUNCATED}: the ID3 tag runs past the end of the file")
        return "MP3"
    if _is_mpeg_frame_header(head[:4]):
        return "MP3"
    for magic, offset, what in _OTHER_AUDIO:
        if head[offset : offset + len(magic)] == magic:
            raise AudioError(
                f"{what}: not a format Earmark reads; convert it to FLAC, WAV, OGG or MP3 "
                "(for example: ffmpeg -i INPUT OUTPUT.flac)"
            )
    for magic, what in _ARCHIVES:
        if head.startswith(magic):
            raise AudioError(f"{what}, not an audio file: unpack it and import the files inside")
    if listing := _task_list_or_manifest(head + fh.read(4096)):
        raise AudioError(listing)
    raise AudioError(NOT_AUDIO)


# Where a labels file for clips already imported goes on the project page.
LABELS_HERE = (
    'for clips already imported, choose it under "Labels for clips already here", below the '
    "drop zone"
)
IMPORT_COMMAND = (
    "the server's `python manage.py import_audio PROJECT FILE` reads it, with its audio files "
    'beside it (README, "Getting audio in")'
)


LABEL_TREE_FILE = (
    "a label tree file (Earmark JSON or AudioSet), not audio: import it on the project's label "
    "tree page, or with `python manage.py import_ontology PROJECT FILE`"
)


def _task_list_or_manifest(head: bytes) -> str:
    """What a file of Earmark's other imports (or exports) dropped among the audio is, and
    where it goes ("not an audio file" said nothing of them), or ''."""
    text = ""
    for cut in range(4):  # a character cut at the end of the bytes read is left out
        try:
            text = head[: len(head) - cut].decode("utf-8-sig").lstrip()
            break
        except UnicodeDecodeError:
            continue
    if not text:
        return ""
    if text[:1] in ("[", "{"):
        if '"child_ids"' in text or ('"ontology"' in text and '"clips"' not in text):
            return LABEL_TREE_FILE
        if '"clips"' in text and '"project"' in text:
            return (
                "an Earmark JSON export, not audio: it is not read back; the Label Studio "
                f"export of the project is, by import_audio ({IMPORT_COMMAND})"
            )
        if '"data"' in text:
            return f"a Label Studio task list, not audio: {IMPORT_COMMAND}"
        return f"a JSON file, not audio (a Label Studio task list? {IMPORT_COMMAND})"
    first = text.split("\n", 1)[0].lower()
    cells = [c.strip().strip('"') for c in first.replace(";", ",").replace("\t", ",").split(",")]
    if "audio" in cells:
        return f"a CSV manifest, not audio: {LABELS_HERE}; or {IMPORT_COMMAND}"
    if "begin time (s)" in cells:
        return f"a Raven selection table, not audio: {LABELS_HERE}"
    if {"clip_id", "kind", "label"} <= set(cells):
        return "an Earmark CSV export, not audio: it is not read back"
    return ""


# Audio that libsndfile cannot read, named so that the message does not say "not audio".
_OTHER_AUDIO = (
    (b"ftyp", 4, "an MP4/M4A file (AAC or ALAC audio, or a video)"),
    (b"\x1a\x45\xdf\xa3", 0, "a WebM/Matroska file"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", 0, "a WMA/ASF file"),
    (b"\x0b\x77", 0, "an AC-3 file"),
    (b"#!AMR", 0, "an AMR file"),
    (b"MThd", 0, "a MIDI file (notes, not a recording)"),
    (b"\xff\xf1", 0, "an AAC (ADTS) file"),
    (b"\xff\xf9", 0, "an AAC (ADTS) file"),
)
_ARCHIVES = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
)


def _id3_size(head: bytes) -> int:
    """Bytes an ID3v2 tag at the start of `head` takes (header, its 4-byte syncsafe size of 7
    bits a byte, and the 10-byte footer when flagged), or 0 without one."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    tag = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7
    tag |= head[9] & 0x7F
    return tag + 10 + (10 if head[5] & 0x10 else 0)


def _is_mpeg_frame_header(b: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a defined version, layer, bitrate, rate."""
    if len(b) < 4 or b[0] != 0xFF or b[1] & 0xE0 != 0xE0:
        return False
    version, layer = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    bitrate, rate = b[2] >> 4, (b[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _check_wav(fh: IO[bytes], size: int, *, rf64: bool) -> None:
    """Walk the RIFF chunks up to 'data': zero channels and cut-off data are AudioErrors."""
    endian = ">" if read_exact(_seek(fh, 0), 4) == b"RIFX" else "<"
    pos = 12
    channels = block_align = byte_rate = 0
    ds64_data: int | None = None
    for _ in range(MAX_RIFF_CHUNKS):
        header = read_exact(_seek(fh, pos), 8)
        if len(header) < 8:
            return  # no data chunk: libsndfile reports it
        chunk_id, chunk_size = header[:4], struct.unpack(endian + "I", header[4:])[0]
        body = pos + 8
        if chunk_id == b"ds64" and chunk_size >= 24:
            ds64_data = struct.unpack("<Q", read_exact(fh, 24)[8:16])[0]
        elif chunk_id == b"fmt " and chunk_size >= 16:
            fmt = read_exact(fh, 16)
            if len(fmt) < 16:
                return
            _, channels, _, byte_rate, block_align = struct.unpack(endian + "HHIIH", fmt[:14])
            if channels == 0:
                raise AudioError(ZERO_CHANNELS)
        elif chunk_id == b"data":
            declared = ds64_data if rf64 and ds64_data is not None else chunk_size
            unknown = RF64_UNKNOWN_SIZE_BYTES if rf64 else RIFF_UNKNOWN_SIZE_BYTES
            available = size - body
            # Slack of one frame: some writers count a partial last frame.
            if available + max(block_align, 1) < declared < unknown:
                if byte_rate > 0:
                    raise AudioError(
                        f"{TRUNCATED}: the header declares {fmt_duration(declared / byte_rate)} "
                        f"of audio but the file holds only {fmt_duration(available / byte_rate)}"
                    )
                raise AudioError(f"{TRUNCATED}: the data chunk is cut off")
            return
        if chunk_size == 0xFFFFFFFF:
            return  # a non-data chunk of unknown size: nothing to walk past
        pos = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
        if pos >= size:
            return


def _seek(fh: IO[bytes], offset: int) -> IO[bytes]:
    fh.seek(offset)
    return fh
