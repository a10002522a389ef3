"""Far spectrogram views of a long recording, drawn by sampling its frames (the baseline) and
from its spectral overview (`labelapp.audio.spectrum`): time per view and short calls lit.

A generated recording (quiet noise, a 0.15 s 3 kHz chirp every 20 s at a random offset, 48 kHz
mono) written as MP3 (an MP3's looks cost most) or FLAC; views of the whole file, 20 minutes,
10 minutes and 1 minute, 992 x 214 px, mel. Prints each view's time and chirps lit with and
without the overview, and the overview's computing time, size and peak memory.

    .venv/bin/python benchmarks/far_spectrogram.py [--minutes 60] [--format mp3|flac]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for labelapp

from labelapp.audio import render_spectrogram_png  # noqa: E402
from labelapp.audio.spectrum import compute_overview  # noqa: E402

SR = 48000
EVERY_S = 20
CHIRP_S = 0.15
CHIRP_HZ = 3000
WIDTH, HEIGHT = 992, 214


def generate(path: Path, minutes: int, fmt: str) -> list[float]:
    """Write the recording (through a WAV and ffmpeg, block by block); return chirp starts (s)."""
    rng = np.random.default_rng(0)
    starts = []
    wav = path.with_suffix(".wav")
    with sf.SoundFile(wav, "w", SR, 1, subtype="PCM_16") as fh:
        t = np.arange(int(CHIRP_S * SR)) / SR
        chirp = 0.5 * np.sin(2 * np.pi * CHIRP_HZ * t)
        for block in range(minutes * 60 // EVERY_S):
            audio = 0.003 * rng.standard_normal(EVERY_S * SR)
            at = rng.uniform(0.5, EVERY_S - 1.0)
            starts.append(block * EVERY_S + at)
            audio[int(at * SR) : int(at * SR) + len(chirp)] += chirp
            fh.write(audio.astype(np.float32))
    codec = ["-b:a", "96k"] if fmt == "mp3" else []
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *codec, str(path)], check=True
    )
    wav.unlink()
    return starts


def chirps_lit(png: bytes, start: float, end: float, starts: list[float]) -> tuple[int, int]:
    """(chirps lit, chirps in the window): the chirp's column, or a neighbour, brighter than
    the view's median at 3 kHz by a clear margin."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float).sum(axis=2)
    row = int(pixels.mean(axis=1).argmax())  # the chirps' row is the brightest on average
    band = pixels[max(0, row - 2) : row + 3].max(axis=0)
    lit = band > np.median(band) + 150
    inside = [s for s in starts if start <= s and s + CHIRP_S <= end]
    hits = 0
    for s in inside:
        c0 = int((s - start) / (end - start) * WIDTH)
        c1 = int((s + CHIRP_S - start) / (end - start) * WIDTH)
        hits += bool(lit[max(0, c0 - 1) : min(WIDTH, c1 + 2)].any())
    return hits, len(inside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--format", choices=["mp3", "flac"], default="mp3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"far.{args.format}"
        print(f"generating {args.minutes} min of {args.format} at {SR} Hz ...", flush=True)
        starts = generate(path, args.minutes, args.format)
        duration = sf.info(str(path)).duration
        out = io.BytesIO()
        tracemalloc.start()
        began = time.perf_counter()
        compute_overview(path, out)
        took = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"overview: {took:.1f} s to compute ({duration / took:.0f}x real time), "
            f"{out.tell() / 1e6:.1f} MB, peak traced memory {peak / 1e6:.0f} MB"
        )
        print("      view | sampled: time |   lit     | overview: time |   lit     | time ratio")
        for view_s in [duration] + [v for v in (1200, 600, 60) if v < duration]:
            start = min(1000.0, max(0.0, duration - view_s)) if view_s < duration else 0.0
            end = start + view_s
            row = []
            for overview in (None, out):
                if overview is not None:
                    overview.seek(0)
                began = time.perf_counter()
                png = render_spectrogram_png(
                    path, start=start, end=end, width=WIDTH, height=HEIGHT, overview=overview
                )
                row.append((time.perf_counter() - began, chirps_lit(png, start, end, starts)))
            (t0, (h0, n)), (t1, (h1, _)) = row
            sampled = f"{t0:>12.3f}s | {h0:>4}/{n:<4}"
            drawn = f"{t1:>13.3f}s | {h1:>4}/{n:<4}"
            print(f"{view_s:>9.0f}s | {sampled} | {drawn} | {t1 / t0:.2f}")


if __name__ == "__main__":
    main()
