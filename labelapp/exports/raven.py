"""Raven selection table: the segments as Raven Pro (and the tools that read its tables:
opensoundscape, Kaleidoscope's importers, koogu) open them.

Tab-separated, one row per segment, with Raven's own columns first: `Selection` (numbered
from 1), `View` ("Spectrogram 1"), `Channel` (from 1, as Raven counts: Earmark's channel 0
is 1; a segment on every channel is a selection on each), `Begin Time (s)`, `End Time (s)`,
`Low Freq (Hz)` and `High Freq (Hz)` (the segment's band; 0 and the clip's Nyquist frequency
for a segment of every frequency and a clip label), then `Begin File` (the clip's original
name: a table of several clips is split by it, or opened beside each recording) and the
annotation columns `Annotation` (the segment's label paths, `;` between two), `Kind`,
`Annotator`, `Status`, `Clip ID`. A clip label is a selection over the whole clip, of kind
`clip`, so weak labels come along. A label filter keeps the rows with that label (or its
children).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from labelapp.exports.common import (
    ExportContext,
    annotation_content,
    clip_batches,
    user_name,
    wanted_paths,
)

COLUMNS = [
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
    "Begin File",
    "Annotation",
    "Kind",
    "Annotator",
    "Status",
    "Clip ID",
]
VIEW = "Spectrogram 1"


def _cell(value) -> str:
    """A tab, a line break or a carriage return would break the table's rows and columns."""
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _seconds(value) -> str:
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def write_raven(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Write the table to `out`; yield the clips read after each chunk."""
    out.write("\t".join(COLUMNS) + "\n")
    wanted = wanted_paths(ctx)
    selection = 0

    def row(clip, channel, start, end, labels, kind, annotation, band=(None, None)) -> None:
        nonlocal selection
        selection += 1
        low, high = band if band[0] is not None else (0, (clip.sample_rate or 0) / 2)
        cells = [
            selection,
            VIEW,
            channel,
            _seconds(start),
            _seconds(end),
            _seconds(low),
            _seconds(high),
            clip.original_name,
            ";".join(labels),
            kind,
            user_name(annotation.annotator),
            annotation.status,
            clip.pk,
        ]
        out.write("\t".join(_cell(c) for c in cells) + "\n")

    for seen, batch in clip_batches(ctx):
        for clip in batch:
            for annotation in clip.export_annotations:
                clip_labels, segments = annotation_content(annotation)
                chosen = [p for p in clip_labels if wanted is None or p in wanted]
                if chosen:
                    row(clip, 1, 0.0, clip.duration or 0.0, chosen, "clip", annotation)
                for seg in segments:
                    labels = [p for p in seg["labels"] if wanted is None or p in wanted]
                    if not labels:
                        continue
                    # Raven's selections are of one channel: a segment of every channel is
                    # one on each (as "1" it read as the left channel only).
                    if seg["channel"] is None:
                        channels = range(1, max(1, clip.channels or 1) + 1)
                    else:
                        channels = [int(seg["channel"]) + 1]
                    for channel in channels:
                        band = (seg["low_freq"], seg["high_freq"])
                        row(
                            clip,
                            channel,
                            seg["start"],
                            seg["end"],
                            labels,
                            "segment",
                            annotation,
                            band,
                        )
        yield seen
    ctx.summary = {"selections": selection}
