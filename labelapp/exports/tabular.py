"""CSV: one row per clip label and one per segment label, for spreadsheets and pandas.

Columns: clip_id, original_name, file, kind (`clip` or `segment`), start, end, channel,
label (its path), annotator, status, annotation_id, annotation_version, updated_at,
reviewed_by, corrected_by, unsure, note, low_freq, high_freq (a segment's band in Hz; empty for
every frequency). A clip label row has empty start, end, channel and band; a segment with two
labels gives two rows. An
annotation without labels (a skip) gives no row.

With a label filter the rows are labels, not whole annotations: only the rows of the labels
asked for (and their children) are written. The other formats keep whole annotations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from labelapp.exports.common import (
    ExportContext,
    SafeCsvWriter,
    annotation_content,
    clip_batches,
    iso,
    review_of,
    user_name,
    wanted_paths,
)

COLUMNS = [
    "clip_id",
    "original_name",
    "file",
    "kind",
    "start",
    "end",
    "channel",
    "label",
    "annotator",
    "status",
    "annotation_id",
    "annotation_version",
    "updated_at",
    # After the rest, so that readers of the columns before keep working.
    "reviewed_by",
    "corrected_by",
    "unsure",  # the annotator was not sure of these labels ("true" or "")
    "note",  # their word to the reviewer
    "low_freq",  # a segment's band (Hz); empty: every frequency
    "high_freq",
]


def write_csv(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Write the rows to `out` (opened with newline=""); yield clips read after each chunk."""
    writer = SafeCsvWriter(out)
    writer.writerow(COLUMNS)
    wanted = wanted_paths(ctx)
    rows = 0
    for seen, batch in clip_batches(ctx):
        for clip in batch:
            for annotation in clip.export_annotations:
                common = [user_name(annotation.annotator), annotation.status, annotation.pk]
                reviewer, corrector = review_of(annotation)
                tail = [
                    annotation.version,
                    iso(annotation.updated_at),
                    reviewer or "",
                    corrector or "",
                    "true" if annotation.unsure else "",
                    annotation.note,
                ]
                clip_labels, segments = annotation_content(annotation)
                head = [clip.pk, clip.original_name, clip.file.name]
                if not clip_labels and not segments and wanted is None:
                    # A skip says something too (the clip was passed over): one row without
                    # a label, not none (a filter on skipped annotations wrote no row).
                    writer.writerow([*head, "none", "", "", "", "", *common, *tail, "", ""])
                    rows += 1
                for path in clip_labels:
                    if wanted is not None and path not in wanted:
                        continue
                    writer.writerow([*head, "clip", "", "", "", path, *common, *tail, "", ""])
                    rows += 1
                for seg in segments:
                    channel = "" if seg["channel"] is None else seg["channel"]
                    band = (
                        ["", ""] if seg["low_freq"] is None else [seg["low_freq"], seg["high_freq"]]
                    )
                    for path in seg["labels"]:
                        if wanted is not None and path not in wanted:
                            continue
                        writer.writerow(
                            [*head, "segment", seg["start"], seg["end"], channel, path]
                            + [*common, *tail, *band]
                        )
                        rows += 1
        yield seen
    ctx.summary = {"rows": rows}
