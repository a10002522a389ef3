"""Writes of the ML layer that other apps call (imports of external predictions)."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Max

from labelapp.chunks import id_chunks
from labelapp.errors import DomainError
from labelapp.models import Clip
from labelapp.services.annotations import labels_resolve
from ml_backend.models import ModelVersion, Prediction


def external_name(name: str) -> str:
    """An imported source's name, never one of the project's own ("v1", "V3"): Label Studio
    names its predictions' versions freely, and a project then had two versions "v1"."""
    return f"{name} (imported)" if re.fullmatch(r"[vV]\d+", name.strip()) else name


def external_model_version(*, project, name: str) -> ModelVersion:
    """The version that predictions imported from elsewhere hang off, one per source name."""
    name = external_name(name)
    mv = ModelVersion.objects.filter(
        project=project, name=name, status=ModelVersion.Status.EXTERNAL
    ).first()
    if mv is None:
        with transaction.atomic():
            top = ModelVersion.objects.filter(project=project).aggregate(m=Max("version"))["m"]
            mv = ModelVersion.objects.create(
                project=project,
                version=(top or 0) + 1,
                name=name,
                status=ModelVersion.Status.EXTERNAL,
                ontology_version=project.ontology.version,
            )
    return mv


def predictions_import(*, clip: Clip, predictions: list[dict]) -> list[Prediction]:
    """Label Studio-style predictions: clip labels and segments, each with a score."""
    out = []
    for pred in predictions:
        mv = external_model_version(project=clip.project, name=pred["model_version"])
        score = pred.get("score")
        score = float(score) if isinstance(score, int | float) else None
        clip_scores = {
            str(lb.pk): score if score is not None else 1.0
            for lb in labels_resolve(clip.project, pred.get("clip_labels") or [], create=True)
        }
        segments = []
        for seg in pred.get("segments") or []:
            for lb in labels_resolve(clip.project, seg.get("labels") or [], create=True):
                seg_score = seg.get("score", score)
                segments.append(
                    {
                        "start": float(seg["start"]),
                        "end": float(seg["end"]),
                        "channel": seg.get("channel"),
                        "label": lb.pk,
                        "score": float(seg_score) if seg_score is not None else None,
                    }
                )
        prediction, _ = Prediction.objects.update_or_create(
            clip=clip,
            model_version=mv,
            defaults={"clip_scores": clip_scores, "segments": segments, "score": score},
        )
        out.append(prediction)
    return out


def predictions_prune(
    *, project_id: int, keep: int, dry_run: bool = False, on_progress=None, chunk: int = 500
) -> dict:
    """Each clip of the project keeps its predictions from its `keep` newest versions (the
    active version's first, whatever its number: a rollback keeps what the queue reads), the
    rest are deleted. Every new version scores each unlabeled clip again, so without it a
    project of 100,000 clips retrained 50 times held 5 million rows of which the queue and
    the workspace read one per clip. Clip by clip, so a labeled clip (not scored again) keeps
    its last predictions however old. Idempotent; `dry_run` counts without deleting.
    `on_progress(done, total)` after each chunk of clips. Returns {"clips", "deleted",
    "kept"}."""
    from django.db.models import Case, F, Value, When, Window
    from django.db.models.functions import RowNumber

    if keep < 1:
        raise ValueError("keep at least one version's predictions")
    clip_ids = list(
        Prediction.objects.filter(clip__project_id=project_id)
        .values_list("clip_id", flat=True)
        .distinct()
        .order_by("clip_id")
    )
    active_first = Case(
        When(model_version__status=ModelVersion.Status.ACTIVE, then=Value(0)), default=Value(1)
    )
    deleted = kept = 0
    for start in range(0, len(clip_ids), chunk):
        part = clip_ids[start : start + chunk]
        ranked = (
            Prediction.objects.filter(clip_id__in=part)
            .annotate(
                nth=Window(
                    RowNumber(),
                    partition_by=[F("clip_id")],
                    order_by=[active_first.asc(), F("model_version__version").desc()],
                )
            )
            .values_list("pk", "nth")
        )
        rows = list(ranked)
        gone = [pk for pk, nth in rows if nth > keep]
        if not dry_run:
            for ids in id_chunks(gone):
                Prediction.objects.filter(pk__in=ids).delete()
        deleted += len(gone)
        kept += len(rows) - len(gone)
        if on_progress is not None:
            on_progress(min(start + chunk, len(clip_ids)), len(clip_ids))
    return {"clips": len(clip_ids), "deleted": deleted, "kept": kept}


PREDICTIONS_PER_REQUEST = 1000
EXTERNAL_NAME_MAX = 100


def predictions_import_checked(*, project, model_version: str, items: list) -> dict:
    """Predictions of a model run elsewhere (BirdNET, a team's own), by REST: each item names
    its clip (`clip` id, or `original_name`), its clip labels with scores and its segments
    with scores. Labels must exist (an import creates none); a score is a probability; a
    segment lies within its clip. Each item is imported or rejected with its reason; the
    rest go on. They hang off an external version named `model_version` (the same name
    again replaces a clip's earlier prediction of that source), which the workspace suggests
    until the project's own model is active. Returns {"imported", "rejected": [{"index",
    "reason"}], "model_version"}."""
    name = external_source_checked(project, model_version)
    if not isinstance(items, list) or not items:
        raise DomainError("predictions: a list of at least one prediction", code="invalid")
    if len(items) > PREDICTIONS_PER_REQUEST:
        raise DomainError(
            f"predictions: at most {PREDICTIONS_PER_REQUEST} a request, not {len(items)}",
            code="too_many",
        )
    known: dict = {}
    ready: list[tuple[Clip, dict, list]] = []
    rejected = []
    for index, item in enumerate(items):
        try:
            ready.append(_checked_item(project, item, known))
        except DomainError as exc:
            rejected.append({"index": index, "reason": exc.message})
    if ready:
        with transaction.atomic():
            mv = external_model_version(project=project, name=name)
            for clip, scores, segments in ready:
                Prediction.objects.update_or_create(
                    clip=clip,
                    model_version=mv,
                    defaults={
                        "clip_scores": scores,
                        "segments": segments,
                        "score": max([*scores.values(), *(s["score"] for s in segments)]),
                    },
                )
    return {"imported": len(ready), "rejected": rejected, "model_version": name}


def external_source_checked(project, model_version) -> str:
    """The name of a source of predictions made elsewhere, stripped; DomainError when it is
    none, too long, or one of the project's own versions' names."""
    name = model_version.strip() if isinstance(model_version, str) else ""
    if not name or len(name) > EXTERNAL_NAME_MAX:
        raise DomainError(
            f"model_version: the source's name, 1 to {EXTERNAL_NAME_MAX} characters",
            code="invalid",
        )
    if external_name(name) != name or (
        ModelVersion.objects.filter(project=project, name__iexact=name)
        .exclude(status=ModelVersion.Status.EXTERNAL)
        .exists()
    ):
        raise DomainError(
            f"model_version: {name!r} is a name of the project's own versions (v1, v2, ...); "
            "name the source otherwise, e.g. birdnet-2.4",
            code="invalid",
        )
    return name


def _probability(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise DomainError(f"{where}: score must be a number from 0 to 1, not {value!r}")
    return float(value)


def _checked_item(project, item, known: dict) -> tuple[Clip, dict, list]:
    if not isinstance(item, dict):
        raise DomainError("a prediction is an object")
    unknown = sorted(set(item) - {"clip", "original_name", "clip_labels", "segments"})
    if unknown:
        raise DomainError(f"unknown field(s) {', '.join(map(str, unknown))}")
    clips = Clip.objects.filter(project=project)
    if isinstance(item.get("clip"), int) and not isinstance(item.get("clip"), bool):
        clip = clips.filter(pk=item["clip"]).first()
        if clip is None:
            raise DomainError(f"no clip {item['clip']} in this project")
    elif isinstance(item.get("original_name"), str):
        found = list(clips.filter(original_name=item["original_name"])[:2])
        if len(found) != 1:
            raise DomainError(
                f"{'no clip' if not found else 'several clips'} named "
                f"{item['original_name']!r} in this project"
                + ("" if not found else ": name it by its id (`clip`)")
            )
        clip = found[0]
    else:
        raise DomainError("a prediction names its clip: `clip` (an id) or `original_name`")
    scores: dict[str, float] = {}
    for i, entry in enumerate(item.get("clip_labels") or [], start=1):
        if not isinstance(entry, dict) or "label" not in entry:
            raise DomainError(f"clip label {i}: an object with `label` and `score`")
        (label,) = labels_resolve(project, [entry["label"]], known=known)
        scores[str(label.pk)] = _probability(entry.get("score"), f"clip label {i}")
    segments = []
    for i, seg in enumerate(item.get("segments") or [], start=1):
        if not isinstance(seg, dict) or "label" not in seg:
            raise DomainError(f"segment {i}: an object with start, end, label and score")
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            raise DomainError(f"segment {i}: start and end must be numbers (seconds)") from None
        if not (0 <= start < end <= clip.duration + 0.01):
            raise DomainError(
                f"segment {i}: {start:g}-{end:g} s is not within the clip (0-{clip.duration:g} s)"
            )
        channel = seg.get("channel")
        if channel is not None and (
            isinstance(channel, bool)
            or not isinstance(channel, int)
            or not 0 <= channel < (clip.channels or 1)
        ):
            raise DomainError(f"segment {i}: channel {channel!r} is not one of the clip's")
        (label,) = labels_resolve(project, [seg["label"]], known=known)
        segments.append(
            {
                "start": start,
                "end": min(end, clip.duration),
                "channel": channel,
                "label": label.pk,
                "score": _probability(seg.get("score"), f"segment {i}"),
            }
        )
    if not scores and not segments:
        raise DomainError("a prediction gives clip labels or segments (or both)")
    return clip, scores, segments
