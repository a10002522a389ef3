"""From rows to arrays: the labeled clips of a project, its classes, and cached features.

The only module of the ML layer that knows both the ORM and the pure package's inputs. It
imports torch (through `ml_backend.features`) only when features are read: the web side
reads labels through it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from labelapp.chunks import id_chunks
from labelapp.consensus import clip_answer, clip_vote
from labelapp.media import media_open
from labelapp.models import LABELED_STATUSES, Annotation, Clip, Project
from ml_backend.feature_config import FeatureConfig
from ontology.models import Label


def feature_config_for(project: Project) -> FeatureConfig:
    """Log-mel settings for a project: its target rate, 64 bands, 25 ms / 10 ms, 1 s windows."""
    return FeatureConfig(sample_rate=project.target_sample_rate, n_mels=64)


def features_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "features"


def clip_features(
    clip: Clip, config: FeatureConfig, *, background_write: bool = False
) -> np.ndarray:
    """(n_mels, frames) log-mel of a clip, computed once per (content, config) and cached.
    With `background_write`, call `features.cache_writes_wait()` before relying on the cache."""
    from ml_backend.features import load_or_compute  # torch: only where features are made

    kwargs = {
        "cache_root": features_root(),
        "clip_sha256": clip.sha256,
        "background_write": background_write,
    }
    try:
        source = default_storage.path(clip.file.name)
    except NotImplementedError:  # remote storage: read it in ranges as it is decoded
        with media_open(clip.file.name) as fh:
            return load_or_compute(fh, config, **kwargs)
    return load_or_compute(source, config, **kwargs)


def clips_features(
    clips: list[Clip], config: FeatureConfig, *, background_write: bool = False
) -> list[np.ndarray]:
    """``clip_features`` of many clips: on a local store the clips whose features are not
    cached yet are computed together (one file open each, batched log-mel for short clips)."""
    from ml_backend.features import load_or_compute_many

    try:
        paths = [default_storage.path(c.file.name) for c in clips]
    except NotImplementedError:  # remote storage: one stream per clip
        return [clip_features(c, config, background_write=background_write) for c in clips]
    return load_or_compute_many(
        paths,
        config,
        cache_root=features_root(),
        clip_sha256s=[c.sha256 for c in clips],
        background_write=background_write,
    )


@dataclass
class LabeledSet:
    clips: list[Clip]
    classes: list[int]  # label ids, the model's output order
    paths: list[str]
    parents: list[int]  # parent index per class, -1 at the top
    targets: np.ndarray  # (N,) class index (single-label) or (N, C) 0/1 (multi-label)
    multi_label: bool
    # Per clip: the (start, end) seconds of its labeled segments when its labels come from
    # segments only (no clip label): training reads those spans, not the whole recording.
    spans: list[list[tuple[float, float]] | None] | None = None

    def __len__(self) -> int:
        return len(self.clips)


def clip_label_ids(project: Project) -> dict[int, list[int]]:
    """Label ids per labeled clip: what annotators finally submitted.

    Several annotators, as the manifest export reads them: when a reviewer accepted (or
    corrected) any of a clip's annotations, only the accepted ones count; single-label
    projects take the most frequent label, and a tie leaves the clip out until a reviewer
    settles it (it took the earliest annotation's label: the model learned the very labels a
    team disputed), as does a clip sent to adjudication; multi-label projects take labels
    chosen by at least half of them.
    Segment labels count as clip labels (weak labels) for clip-level training.
    """
    return _label_votes(project)[0]


def _counted(project: Project, via: str = "") -> dict:
    """The filter of the annotations a training counts (labeled, on the project's ready
    clips), reached through `via` ("annotation", "segment__annotation") from another model.
    As joins in each query: a list of every annotation id as parameters would pass SQLite's
    limit on a large project."""
    prefix = f"{via}__" if via else ""
    return {
        f"{prefix}clip__project": project,
        f"{prefix}clip__status": Clip.Status.READY,
        f"{prefix}status__in": LABELED_STATUSES,
    }


def _label_votes(project: Project) -> tuple[dict[int, list[int]], set[int], set[int]]:
    """`clip_label_ids`; the clips one of whose voting annotations gives a clip label (the
    others' labels are their segments': `segment_spans`); and the clips a reviewer accepted
    an annotation of (only the accepted ones vote there)."""
    with_clip_label: set[int] = set()  # annotations
    per_annotation: dict[int, set[int]] = defaultdict(set)
    clip_of: dict[int, int] = {}
    accepted: set[int] = set()
    counted = Annotation.objects.filter(**_counted(project))
    # A clip a lead sent to adjudication waits for its reviewer, as in the manifest.
    counted = counted.exclude(clip__needs_adjudication=True)
    for ann_id, clip_id, status in counted.values_list("id", "clip_id", "status"):
        clip_of[ann_id] = clip_id
        per_annotation[ann_id]
        if status == Annotation.Status.ACCEPTED:
            accepted.add(ann_id)
    from labelapp.models import ClipLabel, SegmentLabel

    single = project.label_mode == Project.LabelMode.SINGLE
    for ann_id, label_id in ClipLabel.objects.filter(**_counted(project, "annotation")).values_list(
        "annotation_id", "label_id"
    ):
        if ann_id in clip_of:  # counted between the reads
            per_annotation[ann_id].add(label_id)
            with_clip_label.add(ann_id)
    on_segments: dict[int, set[int]] = defaultdict(set)
    for ann_id, label_id in SegmentLabel.objects.filter(
        **_counted(project, "segment__annotation")
    ).values_list("segment__annotation_id", "label_id"):
        if ann_id in clip_of:
            on_segments[ann_id].add(label_id)
    reviewed = {clip_of[a] for a in accepted}
    votes: dict[int, list[set[int]]] = defaultdict(list)
    with_clip_labels: set[int] = set()  # clips, of the voting annotations only
    for ann_id in sorted(per_annotation):
        answer = clip_answer(per_annotation[ann_id], on_segments[ann_id], multi=not single)
        if answer and (ann_id in accepted or clip_of[ann_id] not in reviewed):
            votes[clip_of[ann_id]].append(answer)
            if ann_id in with_clip_label:
                with_clip_labels.add(clip_of[ann_id])
    # a single-label tie votes for nothing: out of the training until a reviewer settles it
    out = {
        clip_id: won for clip_id, sets in votes.items() if (won := clip_vote(sets, single=single))
    }
    return out, with_clip_labels, reviewed


def classes_in_use(project: Project) -> int:
    """How many classes a training would find, counted to 2 at most (a training needs two):
    the distinct labels of the counted annotations, on clips or segments; in a multi-label
    project a label's ancestors are classes too. Cheap: asked before a training is queued."""
    from labelapp.models import ClipLabel, SegmentLabel

    used: set[int] = set()
    for model, via in ((ClipLabel, "annotation"), (SegmentLabel, "segment__annotation")):
        rows = model.objects.filter(**_counted(project, via))
        used.update(rows.values_list("label_id", flat=True).distinct()[:2])
    multi = project.label_mode == Project.LabelMode.MULTI
    with_parent = Label.objects.filter(pk__in=used, parent__isnull=False)
    if len(used) == 1 and multi and with_parent.exists():
        return 2
    return min(len(used), 2)


def labeled_set(project: Project) -> LabeledSet:
    labels_by_clip, with_clip_labels, reviewed = _label_votes(project)
    used = {lb for ids in labels_by_clip.values() for lb in ids}
    multi = project.label_mode == Project.LabelMode.MULTI
    rows = {lb.pk: lb for lb in Label.objects.filter(ontology_id=project.ontology_id)}
    by_path = {lb.path.lower(): lb for lb in rows.values()}
    if multi:  # ancestors become classes too: the model learns every level of the tree
        for lid in list(used):
            for path in rows[lid].ancestor_paths:
                if path.lower() in by_path:
                    used.add(by_path[path.lower()].pk)
    classes = sorted(used, key=lambda lid: rows[lid].path.lower())
    index = {lid: i for i, lid in enumerate(classes)}
    parents = []
    for lid in classes:
        parent = rows[lid].parent_id
        parents.append(index.get(parent, -1) if multi else -1)
    clips = [
        clip
        for chunk in id_chunks(sorted(labels_by_clip))
        for clip in Clip.objects.filter(pk__in=chunk).order_by("id")
    ]
    if multi:
        targets = np.zeros((len(clips), len(classes)), dtype=np.float32)
        for i, clip in enumerate(clips):
            for lid in labels_by_clip[clip.pk]:
                targets[i, index[lid]] = 1.0
                for path in rows[lid].ancestor_paths:
                    anc = by_path.get(path.lower())
                    if anc is not None and anc.pk in index:
                        targets[i, index[anc.pk]] = 1.0
    else:
        targets = np.array([index[labels_by_clip[c.pk][0]] for c in clips], dtype=np.int64)
    return LabeledSet(
        clips=clips,
        classes=classes,
        paths=[rows[c].path for c in classes],
        parents=parents,
        targets=targets,
        multi_label=multi,
        spans=segment_spans(project, [c.pk for c in clips], with_clip_labels, reviewed),
    )


def segment_spans(
    project: Project,
    clip_ids: list[int],
    with_clip_labels: set[int],
    reviewed: set[int] = frozenset(),
) -> list[list[tuple[float, float]] | None]:
    """For each clip, the spans of its voting annotations' segments when none of those
    annotations gives a clip label (its labels are the segments'), else None.
    `with_clip_labels`: the clips one of whose voting annotations does; `reviewed`: the
    clips where only accepted annotations vote (`_label_votes`)."""
    from labelapp.models import Segment

    counted = _counted(project, "annotation")
    spans: dict[int, set[tuple[float, float]]] = defaultdict(set)
    for chunk in id_chunks(clip_ids):
        for clip_id, status, start, end in Segment.objects.filter(
            annotation__clip_id__in=chunk, segment_labels__isnull=False, **counted
        ).values_list("annotation__clip_id", "annotation__status", "start", "end"):
            if clip_id not in reviewed or status == Annotation.Status.ACCEPTED:
                spans[clip_id].add((start, end))
    return [
        None if cid in with_clip_labels or cid not in spans else sorted(spans[cid])
        for cid in clip_ids
    ]
