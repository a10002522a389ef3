"""Reads of the ML layer that the annotation workspace and exports use."""

from __future__ import annotations

from ml_backend.models import ModelVersion, Prediction


def active_model_version(project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()


def prediction_for_clip(clip) -> Prediction | None:
    """The prediction to show as suggestions: the active version's, else the newest one
    (e.g. imported from Label Studio) when the project has no trained model yet."""
    qs = Prediction.objects.filter(clip=clip).select_related("model_version")
    active = qs.filter(model_version__status=ModelVersion.Status.ACTIVE).first()
    if active is not None:
        return active
    return (
        qs.exclude(model_version__status=ModelVersion.Status.FAILED)
        .order_by("-model_version__version")
        .first()
    )
