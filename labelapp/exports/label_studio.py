"""Label Studio JSON: a list of tasks that Label Studio (1.x) imports with their annotations
and predictions, and that Earmark's own Label Studio importer reads back.

Conventions (the labeling config these results fit is `label_studio_config`):

- `data.audio` is the clip's audio URL (`/api/clips/<id>/audio`, absolute with the
  `base_url` option); `data.earmark_clip_id` and `data.original_name` name the clip (Earmark's
  Label Studio ML backend matches tasks by `earmark_clip_id`), and `meta` repeats them with
  the clip's technical facts and metadata.
- A segment is a result `{"from_name": "label", "to_name": "audio", "type": "labels",
  "value": {"start", "end", "channel"?, "labels": [path, ...]}}`; `channel` is left out when
  the segment covers every channel.
- Clip labels are one result `{"from_name": "clip_label", "to_name": "audio", "type":
  "taxonomy", "value": {"taxonomy": [["animals", "birds", "robin"], ...]}}`: a path as the
  list of its names, so the hierarchy survives. With the option `clip_labels=choices` they are
  `"type": "choices", "value": {"choices": ["animals/birds/robin"]}` instead.
- An annotation has Label Studio's `id`, `result`, `was_cancelled` (Earmark's `skipped`),
  `ground_truth`, `lead_time`, `created_at`, `updated_at`, and an `earmark` object (annotator,
  status, version) that Label Studio ignores and Earmark's importer uses to give each
  annotation back to its annotator. `completed_by` is left out on purpose: Label Studio
  refuses a task whose `completed_by` names a user it does not know.
- A prediction has `model_version` (the version's name), `score` and `result`, each result
  item with its own `score`; by default only the active model version's predictions go out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO
from xml.sax.saxutils import quoteattr

from labelapp.exports.common import (
    ExportContext,
    annotation_content,
    clip_batches,
    iso,
    prediction_content,
    review_of,
    user_name,
)
from labelapp.models import Annotation, Project
from labelapp.selectors import CLIP_SUGGESTION_MIN_SCORE

AUDIO = "audio"  # the <Audio name=...> of the labeling config
SEGMENT_FROM = "label"  # <Labels name=...>: segments
CLIP_FROM = "clip_label"  # <Taxonomy name=...> (or <Choices>): clip labels


def _clip_result(paths: list[str], style: str, *, rid: str, origin: str, score=None) -> dict:
    if style == "choices":
        kind, value = "choices", {"choices": list(paths)}
    else:
        kind, value = "taxonomy", {"taxonomy": [p.split("/") for p in paths]}
    item = {
        "id": rid,
        "from_name": CLIP_FROM,
        "to_name": AUDIO,
        "type": kind,
        "origin": origin,
        "value": value,
    }
    if score is not None:
        item["score"] = score
    return item


def _segment_result(seg: dict, labels: list[str], *, rid: str, origin: str, duration, score=None):
    value = {"start": seg["start"], "end": seg["end"], "labels": labels}
    if seg.get("channel") is not None:
        value["channel"] = seg["channel"]
    item = {
        "id": rid,
        "from_name": SEGMENT_FROM,
        "to_name": AUDIO,
        "type": "labels",
        "origin": origin,
        "original_length": duration,
        "value": value,
    }
    if score is not None:
        item["score"] = score
    return item


def _annotation(annotation, clip, style: str) -> dict:
    clip_labels, segments = annotation_content(annotation)
    reviewer, corrector = review_of(annotation)
    result = []
    if clip_labels:
        result.append(_clip_result(clip_labels, style, rid=f"c{annotation.pk}", origin="manual"))
    for seg in segments:
        result.append(
            _segment_result(
                seg, seg["labels"], rid=f"s{seg['id']}", origin="manual", duration=clip.duration
            )
        )
    return {
        "id": annotation.pk,
        "result": result,
        "was_cancelled": annotation.status == Annotation.Status.SKIPPED,
        "ground_truth": False,
        "lead_time": annotation.lead_time,
        "created_at": iso(annotation.created_at),
        "updated_at": iso(annotation.updated_at),
        "earmark": {
            "annotator": user_name(annotation.annotator),
            "status": annotation.status,
            "source": annotation.source,
            "version": annotation.version,
            "reviewed_by": reviewer,
            "corrected_by": corrector,
            "review_comment": annotation.review_comment if reviewer else "",
            "reviewed_at": iso(annotation.reviewed_at) if reviewer else None,
        },
    }


def _prediction(prediction, clip, ctx: ExportContext, style: str) -> dict:
    content = prediction_content(prediction, ctx.tree)
    ranked = list(content["clip_scores"].items())
    if ctx.project.label_mode == Project.LabelMode.SINGLE:
        chosen = ranked[:1]
    else:
        chosen = [kv for kv in ranked if kv[1] >= CLIP_SUGGESTION_MIN_SCORE] or ranked[:1]
    result = []
    if chosen:
        result.append(
            _clip_result(
                [p for p, _ in chosen],
                style,
                rid=f"p{prediction.pk}c",
                origin="prediction",
                score=round(max(s for _, s in chosen), 6),
            )
        )
    segments = content["segments"]
    if ctx.project.label_mode == Project.LabelMode.SINGLE:
        # The clip's one label on its segments too, as the workspace suggests them: 152 of
        # 205 tasks came with segments of another label than the clip's.
        segments = [seg for seg in segments if seg["label"] in {p for p, _ in chosen}]
    for i, seg in enumerate(segments):
        result.append(
            _segment_result(
                seg,
                [seg["label"]],
                rid=f"p{prediction.pk}s{i}",
                origin="prediction",
                duration=clip.duration,
                score=seg["score"],
            )
        )
    score = prediction.score
    if score is None and chosen:
        score = chosen[0][1]
    return {
        "model_version": content["model_version"],
        "score": None if score is None else round(float(score), 6),
        "result": result,
    }


def _task(clip, ctx: ExportContext) -> dict:
    style = ctx.options["clip_labels"]
    base = ctx.options.get("base_url") or ""
    return {
        "data": {
            AUDIO: f"{base}/api/clips/{clip.pk}/audio",
            "earmark_clip_id": clip.pk,
            "original_name": clip.original_name,
        },
        "meta": {
            "earmark_clip_id": clip.pk,
            "original_name": clip.original_name,
            "sha256": clip.sha256,
            "duration": clip.duration,
            "sample_rate": clip.sample_rate,
            "channels": clip.channels,
            "metadata": clip.metadata,
        },
        "annotations": [_annotation(a, clip, style) for a in clip.export_annotations],
        "predictions": [_prediction(p, clip, ctx, style) for p in clip.export_predictions],
    }


def write_label_studio(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Write the task list to `out`; yield the clips read so far after each chunk."""
    out.write("[")
    tasks = annotations = 0
    for seen, batch in clip_batches(ctx, predictions=ctx.options["predictions"]):
        for clip in batch:
            body = json.dumps(_task(clip, ctx), ensure_ascii=False, separators=(",", ":"))
            out.write(("\n" if tasks == 0 else ",\n") + body)
            tasks += 1
            annotations += len(clip.export_annotations)
        yield seen
    out.write("\n]\n" if tasks else "]\n")
    ctx.summary = {"tasks": tasks, "annotations": annotations}


def label_studio_config(project: Project, *, clip_labels: str = "taxonomy") -> str:
    """A Label Studio labeling config that fits the exported results: the project's label
    tree as a Taxonomy (or Choices) for clip labels and as Labels (by path) for segments;
    channels drawn apart where the project has multi-channel clips."""
    from ontology.tree import tree_for_ontology_id

    tree = tree_for_ontology_id(project.ontology_id)
    offered = _offered(project, tree)
    nodes = [n for n in tree.ordered if n.id in offered]
    # A project with multi-channel clips: Label Studio draws each channel (its results'
    # `channel` is then where a segment lies).
    split = ' splitchannels="true"' if project.clips.filter(channels__gt=1).exists() else ""
    lines = ["<View>", f'  <Audio name="{AUDIO}" value="${AUDIO}"{split}/>']
    multiple = project.label_mode == Project.LabelMode.MULTI
    if project.annotation_mode != Project.AnnotationMode.CLIP:
        # Label Studio's Labels take one label a region unless told otherwise; a multi-label
        # project's exported regions carry several.
        choice = ' choice="multiple"' if multiple else ""
        lines.append(f'  <Labels name="{SEGMENT_FROM}" toName="{AUDIO}"{choice}>')
        lines += [f"    <Label value={quoteattr(n.path)}/>" for n in nodes]
        lines.append("  </Labels>")
    if project.annotation_mode != Project.AnnotationMode.SEGMENTS:
        if clip_labels == "choices":
            choice = "multiple" if multiple else "single"
            lines.append(f'  <Choices name="{CLIP_FROM}" toName="{AUDIO}" choice="{choice}">')
            lines += [f"    <Choice value={quoteattr(n.path)}/>" for n in nodes]
            lines.append("  </Choices>")
        else:
            extra = "" if multiple else ' maxUsages="1"'
            if project.leaves_only:
                extra += ' leafsOnly="true"'
            lines.append(f'  <Taxonomy name="{CLIP_FROM}" toName="{AUDIO}"{extra}>')
            lines += _taxonomy(tree, None, "    ", offered)
            lines.append("  </Taxonomy>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _offered(project: Project, tree) -> set[int]:
    """The labels the config offers: those annotators may choose (not deprecated; leaves only
    where the project says so), and any other the project's annotations still use (an
    exported result names it, and Label Studio shows only what its config offers)."""
    from labelapp.models import ClipLabel, SegmentLabel

    def choosable(n) -> bool:
        return n.id not in tree.retired and not (project.leaves_only and tree.children.get(n.id))

    others = [n.id for n in tree.ordered if not choosable(n)]
    used: set[int] = set()
    if others:
        used |= set(
            ClipLabel.objects.filter(
                label_id__in=others, annotation__clip__project=project
            ).values_list("label_id", flat=True)
        )
        used |= set(
            SegmentLabel.objects.filter(
                label_id__in=others, segment__annotation__clip__project=project
            ).values_list("label_id", flat=True)
        )
    return {n.id for n in tree.ordered if choosable(n) or n.id in used}


def _taxonomy(tree, parent_id, indent: str, offered: set[int]) -> list[str]:
    out = []
    for child_id in tree.children.get(parent_id, []):
        node = tree.nodes[child_id]
        inner = _taxonomy(tree, child_id, indent + "  ", offered)
        if node.id not in offered and not inner:
            continue
        if inner:
            out.append(f"{indent}<Choice value={quoteattr(node.name)}>")
            out += inner
            out.append(f"{indent}</Choice>")
        else:
            out.append(f"{indent}<Choice value={quoteattr(node.name)}/>")
    return out
