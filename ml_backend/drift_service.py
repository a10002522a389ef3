"""Drift of a project's incoming audio against what its active model was trained on.

Reads cached log-mel features only (``ml_backend.dataset.clip_features`` writes them during
training and pre-labeling); a page never decodes audio. Both sides are sampled (at most
``SAMPLE_CLIPS`` clips and ``SAMPLE_SECONDS`` of audio each), and the answer is kept in the
cache under a key that changes when the model or either set changes, so a dashboard costs a
few cheap queries after the first view.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db.models import Count, Max
from django.db.models.functions import Mod

from labelapp.models import Clip, Project
from ml_backend import drift
from ml_backend.dataset import feature_config_for, features_root
from ml_backend.feature_config import FeatureConfig, load_cached
from ml_backend.models import ModelVersion

logger = logging.getLogger(__name__)

SAMPLE_CLIPS = 200  # per side
SAMPLE_SECONDS = 1800.0  # of audio per side: long recordings are skipped past this
CACHE_SECONDS = 600


def _sides(project: Project, active: ModelVersion | None):
    """(reference queryset, current queryset, description) of the comparison.

    With a model, the reference is every clip the project held when the model was trained:
    the labeled ones it learned from and the unlabeled ones its batch norm was adapted to. Its
    labeled clips alone are no reference in a project that labels by active learning: the
    queue picks the unusual and uncertain clips on purpose, so clips of the very same source
    differ from them (the demo's 35 labeled digits against its other 265: 23 of 64 bands
    "moved"), and every project would show a shift that is only its own sampling."""
    ready = Clip.objects.filter(project=project, status=Clip.Status.READY)
    if active is None:
        labeled = ready.filter(annotation_count__gt=0)
        return labeled, ready.filter(annotation_count=0), "unlabeled clips against labeled clips"
    run = active.training_run
    # The training read its clips when it started; what came later is not in it.
    cutoff = (run.started_at if run is not None and run.started_at else None) or active.created_at
    reference = ready.filter(created_at__lt=cutoff)
    current = ready.filter(created_at__gte=cutoff)
    what = (
        f"clips imported since {active.name} was trained against the clips it was trained "
        "and adapted on"
    )
    return reference, current, what


def _fingerprint(qs) -> tuple[int, int]:
    row = qs.aggregate(n=Count("id"), top=Max("id"))
    return row["n"], row["top"] or 0


def _sample(qs, total: int, newest: bool) -> list[tuple[str, float]]:
    """(sha256, duration) of at most SAMPLE_CLIPS clips: the newest, or evenly spread ids."""
    if newest:
        qs = qs.order_by("-id")
    elif total > SAMPLE_CLIPS:
        # Every k-th id: a spread over the whole set in one indexed query, no ORDER BY random.
        qs = qs.annotate(_k=Mod("id", total // SAMPLE_CLIPS)).filter(_k=0).order_by("id")
    return list(qs.values_list("sha256", "duration")[:SAMPLE_CLIPS])


def _cached_features(rows, config: FeatureConfig):
    """Yield the cached features of the sampled clips; counts what was missing."""
    root = features_root()
    seconds = 0.0
    stats = {"used": 0, "missing": 0, "skipped_long": 0}

    def gen():
        nonlocal seconds
        for sha, duration in rows:
            if seconds + duration > SAMPLE_SECONDS and stats["used"]:
                stats["skipped_long"] += 1
                continue
            feats = load_cached(root, sha, config)
            if feats is None:
                stats["missing"] += 1
                continue
            seconds += duration
            stats["used"] += 1
            yield feats

    return gen(), stats


def project_drift(project: Project, *, use_cache: bool = True) -> dict:
    """Per-mel-band drift of the project's new clips against the active model's training set.

    Returns a JSON-able dict: ``available`` (false with a ``reason`` when there is nothing to
    compare), ``basis`` (what was compared), ``model_version``, ``sampled`` (clips used and
    missing features per side) and the keys of ``ml_backend.drift.DriftReport.to_dict``
    (``smd``, ``spread_ratio``, ``shifted``, ``flagged``, ``thresholds``, ...).
    """
    active = (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE)
        .select_related("training_run")
        .first()
    )
    config = (
        FeatureConfig.from_dict(active.feature_config)
        if active is not None and active.feature_config
        else feature_config_for(project)
    )
    reference, current, basis = _sides(project, active)
    ref_n, ref_top = _fingerprint(reference)
    cur_n, cur_top = _fingerprint(current)
    key = (
        f"earmark:drift:v1:{project.pk}:{active.pk if active else 0}:{config.key()}:"
        f"{ref_n}:{ref_top}:{cur_n}:{cur_top}"
    )
    if use_cache:
        hit = cache.get(key)
        if hit is not None:
            return hit
    result: dict = {
        "available": False,
        "basis": basis,
        "model_version": active.name if active else None,
        "reference_clips": ref_n,
        "current_clips": cur_n,
    }
    if ref_n == 0 or cur_n == 0:
        if ref_n == 0:
            result["reason"] = (
                "no labeled clips to compare against"
                if active is None
                else f"none of the clips {active.name} was trained on is left"
            )
        else:
            result["reason"] = (
                f"no clips imported since {active.name} was trained: drift compares the clips "
                "imported after a training with every clip it was trained and adapted on"
                if active is not None
                else "no unlabeled clips to compare"
            )
        return result
    ref_rows = _sample(reference, ref_n, newest=False)
    cur_rows = _sample(current, cur_n, newest=True)
    ref_feats, ref_used = _cached_features(ref_rows, config)
    cur_feats, cur_used = _cached_features(cur_rows, config)
    ref_stats, cur_stats = drift.band_stats(ref_feats), drift.band_stats(cur_feats)
    result["sampled"] = {"reference": ref_used, "current": cur_used}
    if ref_stats.n_clips == 0 or cur_stats.n_clips == 0:
        result["reason"] = (
            "features are not computed yet for these clips (training and pre-labeling compute them)"
        )
    else:
        try:
            result.update(drift.band_drift(ref_stats, cur_stats).to_dict(), available=True)
        except ValueError as exc:  # features of two settings: say so rather than fail
            logger.warning("drift of project %s: %s", project.pk, exc)
            result["reason"] = str(exc)
    if use_cache:
        # Missing features appear as pre-labeling computes them: look again soon.
        missing = ref_used["missing"] + cur_used["missing"]
        cache.set(key, result, CACHE_SECONDS if not missing else 60)
    return result
