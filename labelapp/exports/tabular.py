"""CSV: one row per clip label and one per segment label, for spreadsheets and pandas.

Columns: clip_id, original_name, file, kind (`clip` or `segment`), start, end, channel,
label (its path), annotator, status, annotation_id, annotation_version, updated_at. A clip
label row has empty start, end and channel; a segment with two labels gives two rows. An
annotation without labels (a skip) gives no row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from labelapp.exports.common import ExportContext, annotation_content, clip_batches, iso, user_name

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
]


def write_csv(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Write the rows to `out` (opened with newline=""); yield clips read after each chunk."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    for seen, batch in clip_batches(ctx):
        for clip in batch:
            for annotation in clip.export_annotations:
                common = [user_name(annotation.annotator), annotation.status, annotation.pk]
                tail = [annotation.version, iso(annotation.updated_at)]
                clip_labels, segments = annotation_content(annotation)
                head = [clip.pk, clip.original_name, clip.file.name]
                for path in clip_labels:
                    writer.writerow([*head, "clip", "", "", "", path, *common, *tail])
                    rows += 1
                for seg in segments:
                    channel = "" if seg["channel"] is None else seg["channel"]
                    for path in seg["labels"]:
                        writer.writerow(
                            [*head, "segment", seg["start"], seg["end"], channel, path]
                            + [*common, *tail]
                        )
                        rows += 1
        yield seen
    ctx.summary = {"rows": rows}
