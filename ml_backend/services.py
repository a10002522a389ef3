"""Writes of the ML layer that other apps call (imports of external predictions)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from labelapp.chunks import id_chunks
from labelapp.models import Clip
from labelapp.services.annotations import labels_resolve
from ml_backend.models import ModelVersion, Prediction


def external_model_version(*, project, name: str) -> ModelVersion:
    """The version that predictions imported from elsewhere hang off, one per source name."""
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
