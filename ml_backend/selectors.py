"""Reads of the ML layer that the annotation workspace and exports use."""

from __future__ import annotations

from django.db.models import Case, Count, Value, When
from django.db.models.fields.json import KeyTransform

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


def external_versions(project, limit: int) -> list[ModelVersion]:
    """Sources of predictions imported from elsewhere (Label Studio tasks' `predictions`),
    newest first, each with `clips`: the clips it predicts. The workspace suggests them
    until a model of the project's own is active."""
    return list(
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.EXTERNAL)
        .annotate(clips=Count("predictions"))
        .order_by("-version")[:limit]
    )


def prediction_choice(
    prediction: Prediction, *, known, single: bool
) -> tuple[list[tuple[int, float]], list[dict]]:
    """A prediction's clip scores as (label id, score), best first, and its segments, both
    among the labels `known` (ids of labels still offered: a label merged away since the
    version trained is left out). In a single-label project the segments are the best
    label's only: frame-level outputs suggested "nine", "one" and "seven" segments on a clip
    suggested as "zero", and Accept all took them. The workspace's suggestions and Label
    Studio's /predict both read this."""
    scores = sorted(
        (
            (int(pk), float(score))
            for pk, score in (prediction.clip_scores or {}).items()
            if int(pk) in known
        ),
        key=lambda kv: -kv[1],
    )
    segments = [s for s in prediction.segments or [] if int(s.get("label", -1)) in known]
    if single:
        best = scores[0][0] if scores else None
        segments = [s for s in segments if int(s["label"]) == best]
    return scores, segments


def _under(path: str, other: str) -> bool:
    return other.startswith(path + "/")


def deepest_scores(
    scores: list[tuple[int, float]], paths: dict[int, str]
) -> list[tuple[int, float]]:
    """The (label id, score) pairs whose label has no label of the list under it, in their
    order: a multi-label model scores a label's ancestors at least as high, and Bird,
    Bird/Songbird and Bird/Songbird/Chirp up were suggested for one sound (Accept all stored
    all three). A person labels the deepest."""
    chosen = [paths[pk] for pk, _ in scores]
    return [(pk, sc) for pk, sc in scores if not any(_under(paths[pk], p) for p in chosen)]


def deepest_segments(segments: list[dict], paths: dict[int, str]) -> list[dict]:
    """Predicted segments less those a segment of a label under theirs covers for at least
    half (the same sound, named at a higher level), on the same channel. A segment is held
    against the segments of the labels under its own only: the workspace asks this at every
    clip it opens, and a long clip's hundreds of segments compared pairwise cost their square
    where its tree has no such pairs at all."""
    spans: dict[tuple, list[tuple[float, float]]] = {}
    for seg in segments:
        key = (int(seg["label"]), seg.get("channel"))
        spans.setdefault(key, []).append((float(seg["start"]), float(seg["end"])))
    ids = {label for label, _ in spans}
    below = {a: [b for b in ids if _under(paths[a], paths[b])] for a in ids}
    kept = []
    for seg in segments:
        label, channel = int(seg["label"]), seg.get("channel")
        a, b = float(seg["start"]), float(seg["end"])
        covered = any(
            min(b, end) - max(a, start) >= 0.5 * (b - a)
            for deeper in below[label]
            for start, end in spans.get((deeper, channel), ())
        )
        if not covered:
            kept.append(seg)
    return kept


# A version's headline figures: what lists of versions show (the model page, the dashboard).
# Its metrics also hold every class's figures and the confusion matrix: 1 MB a version with
# 500 labels, read whole for 50 versions at every poll of the model page.
HEADLINE_KEYS = (
    "accuracy",
    "micro_f1",
    "macro_f1",
    "map",
    "mAP",
    "evaluated_on",
    "split",
    "n",
    "train_size",
    "val_size",
    "train_windows",
    "val_windows",
    "groups",
    "val_groups",
    "validation_group_by",
    "clips_without_group",
    "segment_examples",
    "best_epoch",
    "epochs_run",
    "epochs_planned",
    "epochs_note",
    "adapted_on_clips",
    "pseudo_labeled_clips",
    "started_from",
    "pretraining",
)


def versions_with_headlines(qs):
    """The versions of `qs`, their metrics and classes not read; each carries `headline`, the
    HEADLINE_KEYS its metrics have, read out of them by the database."""
    figures = {f"h_{key}": KeyTransform(key, "metrics") for key in HEADLINE_KEYS}
    out = list(qs.defer("metrics", "classes").annotate(**figures))
    for version in out:
        values = {key: getattr(version, f"h_{key}") for key in HEADLINE_KEYS}
        version.headline = {key: value for key, value in values.items() if value is not None}
    return out
