"""probe(): header values per format, and a specific AudioError for each kind of bad file."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from labelapp.audio import AudioError, AudioInfo, probe
from tests.audio._signals import LONG_RATE, LONG_S, RATE, SHORT_S

FORMATS = [
    ("sine_wav", "WAV", "PCM_16"),
    ("flac_file", "FLAC", "PCM_16"),
    ("ogg_file", "OGG", "VORBIS"),
    ("mp3_file", "MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize(("fixture", "fmt", "codec"), FORMATS)
def test_probe_reports_format_rate_channels_and_duration(request, fixture, fmt, codec):
    info = probe(request.getfixturevalue(fixture))
    assert (info.format, info.codec) == (fmt, codec)
    assert info.sample_rate == RATE
    assert info.channels == 1
    assert abs(info.frames - SHORT_S * RATE) <= 1
    assert info.duration == pytest.approx(SHORT_S, abs=1 / RATE)
    assert info.duration == info.frames / info.sample_rate


def test_probe_stereo_96k_float(stereo_96k_wav):
    info = probe(stereo_96k_wav)
    assert info == AudioInfo("WAV", "FLOAT", 96000, 2, 192000, 2.0)
    assert info.as_dict() == {
        "format": "WAV",
        "codec": "FLOAT",
        "sample_rate": 96000,
        "channels": 2,
        "frames": 192000,
        "duration": 2.0,
    }


def test_probe_accepts_str_path_and_file_object_and_restores_position(flac_file: Path):
    by_path = probe(flac_file)
    assert probe(str(flac_file)) == by_path
    buffer = io.BytesIO(flac_file.read_bytes())
    buffer.seek(123)
    assert probe(buffer) == by_path
    assert buffer.tell() == 123
    with open(flac_file, "rb") as fh:
        assert probe(fh) == by_path
        assert fh.tell() == 0


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("empty_file", "file is empty"),
        (
            "random_bytes_wav",
            "not an audio file (no WAV, FLAC, OGG, MP3, AIFF, CAF or AU header found)",
        ),
        ("zero_channel_wav", "zero channels"),
        (
            "zero_frames_wav",
            "no audio samples: the file is empty of sound or cut short (truncated)",
        ),
    ],
)
def test_bad_files_raise_exact_messages(request, fixture, message):
    with pytest.raises(AudioError) as caught:
        probe(request.getfixturevalue(fixture))
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_empty_file_object_is_empty():
    with pytest.raises(AudioError, match="^file is empty$"):
        probe(io.BytesIO(b""))


def test_truncated_wav_names_declared_and_actual_length(truncated_wav):
    with pytest.raises(AudioError) as caught:
        probe(truncated_wav)
    assert str(caught.value) == (
        "audio is truncated or corrupt: the header declares 3.0 s of audio "
        "but the file holds only 1.0 s"
    )


@pytest.mark.parametrize("fixture", ["flac_file", "mp3_file"])
def test_truncated_compressed_stream_fails_at_the_end(request, fixture, tmp_path):
    source = request.getfixturevalue(fixture)
    data = source.read_bytes()
    cut = tmp_path / f"cut{source.suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        AudioError, match="^audio is truncated or corrupt: could not decode the end"
    ):
        probe(cut)


def test_truncated_ogg_fails_to_parse(ogg_file, tmp_path):
    data = ogg_file.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="^audio is truncated or corrupt: the OGG header"):
        probe(cut)


def test_header_claiming_4_gib_reports_what_can_be_read(huge_claim_wav):
    info = probe(huge_claim_wav)
    assert info.frames == SHORT_S * RATE
    with sf.SoundFile(huge_claim_wav) as snd:
        snd.seek(info.frames - 100)
        assert len(snd.read(1000)) == 100


def test_rf64_claiming_terabytes_reports_what_can_be_read(terabyte_rf64):
    info = probe(terabyte_rf64)
    assert (info.format, info.frames, info.duration) == ("RF64", RATE, 1.0)


def test_mp3_behind_a_huge_id3_tag(huge_id3_mp3, mp3_file):
    assert huge_id3_mp3.stat().st_size > 4_000_000
    info = probe(huge_id3_mp3)
    assert info == probe(mp3_file)
    assert info.format == "MP3"


def test_id3_tag_longer_than_the_file(tmp_path):
    path = tmp_path / "tag_only.mp3"
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x7f\x7f" + bytes(100))
    with pytest.raises(AudioError, match="^audio is truncated or corrupt: the ID3 tag runs past"):
        probe(path)


def test_channel_limit(stereo_96k_wav):
    with pytest.raises(AudioError, match=r"^too many channels: 2 \(the limit is 1\)$"):
        probe(stereo_96k_wav, max_channels=1)


def test_duration_limit_message_uses_the_limits_unit(sine_wav, write_audio):
    with pytest.raises(AudioError, match=r"^duration 3\.0 s exceeds the limit of 2\.5 s$"):
        probe(sine_wav, max_duration_s=2.5)
    assert probe(sine_wav, max_duration_s=3.0).duration == 3.0
    long_header = write_audio("ten_min.wav", np.zeros(600 * 100, np.int16), 100)
    with pytest.raises(AudioError, match=r"^duration 10\.0 min exceeds the limit of 6\.0 min$"):
        probe(long_header, max_duration_s=360)
    # 7.2 hours at 10 Hz is only 259200 frames.
    hours = write_audio("hours.wav", np.zeros(int(7.2 * 3600 * 10), np.int16), 10)
    with pytest.raises(AudioError, match=r"^duration 7\.2 h exceeds the limit of 6\.0 h$"):
        probe(hours, max_duration_s=6 * 3600)


def test_float_file_with_non_audio_extension_is_still_probed(write_audio):
    path = write_audio("recording.bin", np.zeros(800, np.float32), format="WAV", subtype="FLOAT")
    assert probe(path).codec == "FLOAT"


@pytest.mark.slow
def test_probe_of_a_one_hour_file_takes_milliseconds(long_wav):
    started = time.perf_counter()
    info = probe(long_wav, max_duration_s=6 * 3600)
    elapsed = time.perf_counter() - started
    assert info.frames == LONG_S * LONG_RATE
    assert info.duration == LONG_S
    assert elapsed < 0.25, f"probe took {elapsed:.3f} s"
    with pytest.raises(AudioError, match=r"^duration 60\.0 min exceeds the limit of 30\.0 min$"):
        probe(long_wav, max_duration_s=1800)


def test_real_fsdd_clip(fsdd_clip):
    info = probe(fsdd_clip)
    assert (info.format, info.sample_rate, info.channels) == ("WAV", 8000, 1)
    assert 0.1 < info.duration < 5.0
    assert info.frames == sf.info(fsdd_clip).frames


FFMPEG = shutil.which("ffmpeg")
OTHER_FORMATS = [
    ("clip.m4a", ["-c:a", "aac"], "an MP4/M4A file (AAC or ALAC audio, or a video)"),
    ("clip.webm", ["-c:a", "libopus"], "a WebM/Matroska file"),
    ("clip.wma", ["-c:a", "wmav2"], "a WMA/ASF file"),
    ("clip.ac3", ["-c:a", "ac3"], "an AC-3 file"),
    ("clip.aac", ["-c:a", "aac", "-f", "adts"], "an AAC (ADTS) file"),
]


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
@pytest.mark.parametrize(("name", "codec", "what"), OTHER_FORMATS)
def test_audio_in_a_format_libsndfile_cannot_read_is_named_not_called_not_audio(
    sine_wav, tmp_path, name, codec, what
):
    out = tmp_path / name
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-i", str(sine_wav), *codec, str(out)], check=True
    )
    with pytest.raises(AudioError) as caught:
        probe(out)
    assert str(caught.value) == (
        f"{what}: not a format Earmark reads; convert it to FLAC, WAV, OGG or MP3 "
        "(for example: ffmpeg -i INPUT OUTPUT.flac)"
    )


@pytest.mark.parametrize(
    ("pack", "what"),
    [
        (gzip.compress, "a gzip archive"),
        (lambda data: _zipped(data), "a ZIP archive"),
    ],
)
def test_an_archive_is_named_as_one(flac_file, tmp_path, pack, what):
    packed = tmp_path / "clip.flac"
    packed.write_bytes(pack(flac_file.read_bytes()))
    with pytest.raises(AudioError) as caught:
        probe(packed)
    assert str(caught.value) == f"{what}, not an audio file: unpack it and import the files inside"


def _zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("clip.flac", data)
    return buffer.getvalue()


def test_an_mp3_cut_after_its_header_does_not_blame_the_file_system(mp3_file, tmp_path):
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3_file.read_bytes()[:60])
    with pytest.raises(AudioError) as caught:
        probe(cut)
    assert "does not exist" not in str(caught.value)
    assert str(caught.value).startswith("audio is truncated or corrupt")


def test_a_wav_whose_header_was_never_finished_says_so_and_how_to_repair_it(tmp_path):
    """A recorder that lost power leaves its data size at 0 with the audio after it: it was
    refused as "no audio samples ... empty of sound", and a lead concluded the recording was
    lost (an exploratory tester). A header-only file is still just empty of sound."""
    import io as _io

    from labelapp.audio import AudioError, probe

    good = tmp_path / "ok.wav"
    sf.write(good, np.zeros(48000, dtype=np.float32), 48000, subtype="PCM_16")
    data = bytearray(good.read_bytes())
    at = data.index(b"data")
    data[4:8] = (0).to_bytes(4, "little")  # RIFF size
    data[at + 4 : at + 8] = (0).to_bytes(4, "little")  # data size
    unfinished = tmp_path / "rec.wav"
    unfinished.write_bytes(bytes(data))
    for source in (unfinished, _io.BytesIO(bytes(data))):
        with pytest.raises(AudioError, match="header was never finished.*sox --ignore-length"):
            probe(source)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(bytes(data[: at + 8]))
    with pytest.raises(AudioError, match="^no audio samples"):
        probe(header_only)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_a_vbr_mp3_without_a_length_header_is_refused_before_it_is_cut_short(tmp_path):
    """An MP3 written to a pipe has no Xing/LAME header: libsndfile estimates its length from
    the first frame's bitrate and decodes no further, and a 300 s recording was kept as
    107.7 s (a tester could neither hear nor label the rest). The frames are counted; the file
    is refused with the fix, and the re-muxed copy the message names is whole. A CBR one, whose
    estimate is right, imports."""

    def ffmpeg(*args, out=None):
        return subprocess.run([FFMPEG, "-loglevel", "error", "-y", *args], check=True, stdout=out)

    loud_then_quiet = tmp_path / "src.wav"
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=20:a=0.5", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=40,volume=0.01", "-filter_complex",
           "[0][1]concat=n=2:v=0:a=1", "-ar", "44100", str(loud_then_quiet))  # fmt: skip
    piped = tmp_path / "piped.mp3"
    with open(piped, "wb") as out:
        ffmpeg("-i", str(loud_then_quiet), "-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3", "-",
               out=out)  # fmt: skip
    with pytest.raises(AudioError, match=r"no length header .* of its 60\.\d s.*-c copy"):
        probe(piped)
    remuxed = tmp_path / "remuxed.mp3"
    ffmpeg("-i", str(piped), "-c", "copy", str(remuxed))
    assert abs(probe(remuxed).duration - 60.0) < 0.1
    cbr = tmp_path / "cbr.mp3"
    with open(cbr, "wb") as out:
        ffmpeg("-i", str(loud_then_quiet), "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", "-",
               out=out)  # fmt: skip
    assert abs(probe(cbr).duration - 60.0) < 0.2
