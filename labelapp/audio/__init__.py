"""Earmark's audio layer: probing, waveform peaks and spectrograms, with no Django in it.

Nothing here decodes a whole file into memory: probing decodes a block at each end, peaks
are computed by streaming blocks, and window reads seek to the window.
"""

from labelapp.audio.peaks import (
    BASE_SAMPLES_PER_BUCKET,
    PeaksHeader,
    PeaksLevel,
    compute_peaks,
    peaks_window,
    read_peaks,
    read_peaks_header,
    read_sample_window,
)
from labelapp.audio.probe import AudioError, AudioInfo, open_audio, probe
from labelapp.audio.spectrogram import render_spectrogram_png

__all__ = [
    "BASE_SAMPLES_PER_BUCKET",
    "AudioError",
    "AudioInfo",
    "PeaksHeader",
    "PeaksLevel",
    "compute_peaks",
    "open_audio",
    "peaks_window",
    "probe",
    "read_peaks",
    "read_peaks_header",
    "read_sample_window",
    "render_spectrogram_png",
]
