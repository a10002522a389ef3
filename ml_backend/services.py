"""Writes of the ML layer that other apps call (imports of external predictions)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

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
