"""MP3 spans read as one read of the whole file has them (`ml_backend.audio_read`).

libsndfile loses an MP3's bit reservoir at every seek and at every read call: on a VBR file
read in blocks the frames after each boundary come out wrong, and libmpg123 prints an error
for each. These tests read a VBR file both ways and compare sample by sample, and check that
the decoder's messages stay out of stderr while other stderr output does not.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from labelapp.audio._util import iter_blocks
from labelapp.audio.spectrogram import render_spectrogram_png
from ml_backend.audio_read import decoder_quiet, iter_spans, read_at
from ml_backend.features import FeatureConfig, stream_logmel

RATE = 22050


@pytest.fixture
def vbr_mp3(tmp_path):
    """20 s of low-passed noise as a VBR MP3 at 22.05 kHz: the encoder leans on the bit
    reservoir."""
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal(20 * RATE))
    walk -= np.convolve(walk, np.ones(200) / 200, "same")
    path = tmp_path / "vbr.mp3"
    sf.write(
        path,
        (0.3 * walk / np.abs(walk).max()).astype(np.float32),
        RATE,
        format="MP3",
        subtype="MPEG_LAYER_III",
        bitrate_mode="VARIABLE",
        compression_level=0.9,
    )
    return path


def _whole(path) -> np.ndarray:
    return sf.read(path, dtype="float32", always_2d=True)[0]


def _plain_blocks(path, block: int) -> np.ndarray:
    parts = []
    with sf.SoundFile(path) as snd:
        while len(data := snd.read(block, dtype="float32")):
            parts.append(data)
    return np.concatenate(parts)


def test_plain_block_reads_of_a_vbr_mp3_are_wrong(vbr_mp3, capfd):
    """The bug worked around: if libsndfile ever reads blocks right, this fails, and the
    workaround can go."""
    whole, blocks = _whole(vbr_mp3)[:, 0], _plain_blocks(vbr_mp3, 8192)
    assert len(blocks) == len(whole)
    assert np.mean(np.abs(blocks - whole) > 1e-3) > 0.01
    with sf.SoundFile(vbr_mp3) as snd:
        for start in range(10_000, 400_000, 9_000):
            snd.seek(start)
            snd.read(512)
    assert "libmpg123" in capfd.readouterr().err


def test_spans_and_blocks_read_as_the_whole_file(vbr_mp3, capfd):
    whole = _whole(vbr_mp3)
    got = np.concatenate(list(iter_spans(sf.SoundFile(vbr_mp3), 0, None, 8192)))
    np.testing.assert_allclose(got, whole, atol=1e-5)
    with sf.SoundFile(vbr_mp3) as snd:
        got = np.concatenate(list(iter_blocks(snd, 30_000, 200_000)))
        np.testing.assert_allclose(got, whole[30_000:230_000], atol=1e-5)
        for start in np.linspace(0, len(whole) - 1000, 40).astype(int):
            np.testing.assert_allclose(
                read_at(snd, start, 1000), whole[start : start + 1000], atol=1e-5
            )
    assert "libmpg123" not in capfd.readouterr().err


def test_streamed_features_of_a_long_mp3_match_its_whole_decode(vbr_mp3):
    config = FeatureConfig()
    streamed = stream_logmel(vbr_mp3, config, block_samples=8192)
    whole = stream_logmel(io.BytesIO(_wav_bytes(_whole(vbr_mp3))), config, block_samples=8192)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-3)


def _wav_bytes(data: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, data, RATE, format="WAV", subtype="FLOAT")
    return out.getvalue()


@pytest.mark.parametrize("window", [(0.0, 20.0), (5.0, 5.5)])  # sparse (a seek a column), dense
def test_an_mp3_spectrogram_is_its_decoded_audios(vbr_mp3, tmp_path, capfd, window):
    wav = tmp_path / "decoded.wav"
    wav.write_bytes(_wav_bytes(_whole(vbr_mp3)))
    start, end = window

    def pixels(path):
        png = render_spectrogram_png(str(path), start=start, end=end, width=800, height=64)
        return np.asarray(Image.open(io.BytesIO(png))).astype(int)

    assert np.abs(pixels(vbr_mp3) - pixels(wav)).max() <= 2
    assert "libmpg123" not in capfd.readouterr().err


def test_other_stderr_output_passes_through_a_quiet_read(vbr_mp3, capfd):
    with sf.SoundFile(vbr_mp3) as snd, decoder_quiet(snd):
        os.write(2, b"[src/libmpg123/layer3.c:1] error: dropped\n")
        os.write(2, b"a log line from another thread\n")
        read_at(snd, 100_000, 1000)
    err = capfd.readouterr().err
    assert err == "a log line from another thread\n"


def test_an_mp3s_peaks_are_its_decoded_audios(vbr_mp3, tmp_path):
    """Peaks are built block by block: small blocks put many boundaries in the file."""
    from labelapp.audio.peaks import compute_peaks

    wav = tmp_path / "decoded.wav"
    wav.write_bytes(_wav_bytes(_whole(vbr_mp3)))

    def peaks(path) -> bytes:
        out = io.BytesIO()
        compute_peaks(str(path), out, block_frames=4096)
        return out.getvalue()

    assert peaks(vbr_mp3) == peaks(wav)


def test_an_mp3_reads_in_a_process_started_without_stderr(vbr_mp3):
    """A daemon started with fd 2 closed (`2>&-`) has no sys.stderr, and the first file it
    opens takes fd 2: a read must neither fail nor swap that file for the capture, and a
    spectrogram (a quiet block around reads that are quiet blocks too) must not hang."""
    import subprocess
    import sys

    code = (
        "import sys, soundfile as sf\n"
        "from ml_backend.audio_read import read_at\n"
        "with sf.SoundFile(sys.argv[1]) as snd:\n"
        "    a = read_at(snd, 100_000, 1000)\n"
        "    b = read_at(snd, 100_000, 1000)\n"
        "from labelapp.audio.spectrogram import render_spectrogram_png\n"
        "png = render_spectrogram_png(sys.argv[1], start=0, end=20, width=200, height=32)\n"
        "print(len(a), bool((a == b).all()), png[:4] == b'\\x89PNG')\n"
    )
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" "$2" 2>&-', sys.executable, code, str(vbr_mp3)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.split() == ["1000", "True", "True"]


def test_probing_an_mp3_prints_nothing(vbr_mp3, capfd):
    """An upload is probed at its start and its end (a seek): the decoder's noise from that
    seek stays out of the server's log."""
    from labelapp.audio.probe import probe

    info = probe(str(vbr_mp3))
    assert info.format == "MP3" and info.frames == len(_whole(vbr_mp3))
    assert "libmpg123" not in capfd.readouterr().err
