"""Earmark JSON: everything about a project's labels, in one document that streams.

    {"format": "earmark", "version": 1, "exported_at": ..., "filters": {...},
     "project": {...}, "ontology": {"name", "version", "labels": [{id, path, ...}]},
     "model_versions": [...],
     "clips": [{id, original_name, sha256, file, duration, ..., metadata, final_labels,
                "annotations": [{..., clip_labels, segments, revisions: [...]}],
                "predictions": [{model_version, score, clip_scores: {path: score}, ...}]}],
     "summary": {"clips": n, "annotations": n}}

Each clip carries its own annotations and predictions, so a reader can stream the `clips`
array item by item as it was written; labels are named by path everywhere (ids are kept in
`ontology.labels` for those who want them). A clip's `final_labels` are what the training and
the manifest take of it (`manifest.clip_consensus`: accepted answers outweigh the others; none
while it waits for adjudication or its answers tie); null in an export filtered by annotation,
whose clips do not carry all their answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from django.utils import timezone

from labelapp.exports.common import (
    ExportContext,
    annotation_content,
    clip_batches,
    iso,
    prediction_content,
    user_name,
)
from labelapp.exports.manifest import clip_consensus

FORMAT_VERSION = 1


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _head(ctx: ExportContext) -> dict:
    from ml_backend.models import ModelVersion

    project = ctx.project
    ontology = project.ontology
    tree = ctx.tree
    return {
        "format": "earmark",
        "version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "filters": ctx.filters.normalized,
        "project": {
            "id": project.pk,
            "name": project.name,
            "description": project.description,
            "label_mode": project.label_mode,
            "annotation_mode": project.annotation_mode,
            "leaves_only": project.leaves_only,
            "annotations_per_clip": project.annotations_per_clip,
            "target_sample_rate": project.target_sample_rate,
        },
        "ontology": {
            "id": ontology.pk,
            "name": ontology.name,
            "description": ontology.description,
            "version": tree.version,
            "labels": [
                {
                    "id": n.id,
                    "path": n.path,
                    "name": n.name,
                    "parent": tree.nodes[n.parent_id].path if n.parent_id else None,
                    "order": n.order,
                    "description": n.description,
                    "color": n.color,
                    "hotkey": n.hotkey,
                    "external_id": n.external_id,
                    "deprecated": n.deprecated,
                }
                for n in tree.ordered
            ],
        },
        "model_versions": [
            {
                "id": mv.pk,
                "version": mv.version,
                "name": mv.name,
                "status": mv.status,
                "ontology_version": mv.ontology_version,
                "training_size": mv.training_size,
                "metrics": mv.metrics,
                "created_at": iso(mv.created_at),
            }
            for mv in ModelVersion.objects.filter(project=project).order_by("version")
        ],
    }


def _annotation(annotation, revisions: bool) -> dict:
    clip_labels, segments = annotation_content(annotation)
    body = {
        "id": annotation.pk,
        "annotator": user_name(annotation.annotator),
        "status": annotation.status,
        "source": annotation.source,
        "version": annotation.version,
        "ontology_version": annotation.ontology_version,
        "lead_time": annotation.lead_time,
        "created_at": iso(annotation.created_at),
        "updated_at": iso(annotation.updated_at),
        "reviewed_by": user_name(annotation.reviewed_by),
        "reviewed_at": iso(annotation.reviewed_at),
        "review_comment": annotation.review_comment,
        "unsure": annotation.unsure,
        "note": annotation.note,
        "suggestion_feedback": annotation.suggestion_feedback,
        "clip_labels": clip_labels,
        "segments": segments,
    }
    if revisions:
        body["revisions"] = [
            {
                "version": r.version,
                "author": user_name(r.author),
                "action": r.action,
                "comment": r.comment,
                "data": r.data,
                "created_at": iso(r.created_at),
            }
            for r in annotation.export_revisions
        ]
    return body


def _final_labels(clip, ctx: ExportContext) -> list[str] | None:
    """What the training and the manifest take of the clip (the CSV and JSON had only every
    annotator's answer: a lead had to know the manifest for the adjudicated label)."""
    if ctx.filters.on_annotations:
        return None
    return sorted(clip_consensus(clip, ctx))


def _clip(clip, ctx: ExportContext) -> dict:
    revisions = ctx.options["revisions"]
    return {
        "id": clip.pk,
        "original_name": clip.original_name,
        "sha256": clip.sha256,
        "file": clip.file.name,
        "size_bytes": clip.size_bytes,
        "format": clip.format,
        "codec": clip.codec,
        "duration": clip.duration,
        "sample_rate": clip.sample_rate,
        "channels": clip.channels,
        "status": clip.status,
        "metadata": clip.metadata,
        "created_at": iso(clip.created_at),
        "final_labels": _final_labels(clip, ctx),
        "annotations": [_annotation(a, revisions) for a in clip.export_annotations],
        "predictions": [prediction_content(p, ctx.tree) for p in clip.export_predictions],
    }


def write_earmark(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Write the document to `out`; yield the clips read so far after each chunk."""
    head = _dump(_head(ctx))
    out.write(head[:-1] + ',"clips":[\n')
    clips = annotations = 0
    for seen, batch in clip_batches(
        ctx, predictions=ctx.options["predictions"], revisions=ctx.options["revisions"]
    ):
        for clip in batch:
            out.write(("" if clips == 0 else ",\n") + _dump(_clip(clip, ctx)))
            clips += 1
            annotations += len(clip.export_annotations)
        yield seen
    ctx.summary = {"clips": clips, "annotations": annotations}
    out.write("\n]," + _dump({"summary": ctx.summary})[1:] + "\n")
