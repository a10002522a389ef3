"""Reads of the ML layer that the annotation workspace and exports use."""

from __future__ import annotations

from django.db.models import Case, Value, When

from ml_backend.models import ModelVersion, Prediction


def active_model_version(project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()


def prediction_for_clip(clip) -> Prediction | None:
    """The prediction to show as suggestions: the active version's, else the newest one
    (e.g. imported from Label Studio) when the project has no trained model yet."""
    active_first = Case(
        When(model_version__status=ModelVersion.Status.ACTIVE, then=Value(0)), default=Value(1)
    )
    return (
        Prediction.objects.filter(clip=clip)
        .exclude(model_version__status=ModelVersion.Status.FAILED)
        .select_related("model_version")
        .order_by(active_first, "-model_version__version")
        .first()
    )
