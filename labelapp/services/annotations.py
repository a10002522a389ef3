"""Annotations: project rules, versions and history. Nothing is ever silently overwritten."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from labelapp.errors import Conflict, DomainError, NotFound, PermissionDenied
from labelapp.models import (
    LABELED_STATUSES,
    Annotation,
    AnnotationDraft,
    AnnotationRevision,
    Clip,
    ClipEvent,
    ClipLabel,
    Project,
    Segment,
    SegmentLabel,
)
from labelapp.services.queue import clip_lock_release, clip_lock_renew, clip_room_or_conflict
from ontology.models import Label
from ontology.services import label_resolve
from ontology.tree import labels_collapse, tree_get

SEGMENT_PRECISION_S = 0.01  # segments snap to 10 ms
COUNTED_STATUSES = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)


@dataclass
class SegmentInput:
    start: float
    end: float
    labels: list[Label]
    channel: int | None = None
    # The frequency band in Hz, both or neither (None: every frequency).
    low_freq: float | None = None
    high_freq: float | None = None

    @property
    def band(self) -> tuple[float | None, float | None]:
        return (self.low_freq, self.high_freq)


@dataclass
class AnnotationInput:
    clip_labels: list[Label] = field(default_factory=list)
    segments: list[SegmentInput] = field(default_factory=list)
    # The annotator's doubt and note; None: as they are (imports and merges leave them).
    unsure: bool | None = None
    note: str | None = None


NOTE_MAX = 2000  # characters of an annotator's note to the reviewer
LEAD_TIME_MAX_S = 86400  # seconds one save may add to an annotation's lead time: a day


def labels_resolve(
    project: Project,
    refs: Iterable,
    *,
    create: bool = False,
    user=None,
    known: dict | None = None,
) -> list[Label]:
    """Label ids or `/`-paths (or unambiguous names) to Label rows of the project's ontology.
    `known` keeps what was resolved, by ref, for the next call (a submission's segments
    mostly name the same few labels: 5,000 of them cost 5,000 lookups)."""
    labels: list[Label] = []
    for ref in refs:
        key = (type(ref).__name__, ref) if isinstance(ref, int | str) else None
        if known is not None and key in known:
            label = known[key]
            if label not in labels:
                labels.append(label)
            continue
        # Only a JSON number is an id: a string is a name or a path, even "7" (FSDD's digits).
        if isinstance(ref, int) and not isinstance(ref, bool):
            label = Label.objects.filter(ontology_id=project.ontology_id, pk=int(ref)).first()
            if label is None:
                raise DomainError(f"unknown label id {ref}", code="unknown_label")
        else:
            label = label_resolve(ontology=project.ontology, ref=str(ref), create=create, user=user)
        if known is not None and key is not None:
            known[key] = label
        if label not in labels:
            labels.append(label)
    return labels


# Past any clip (EARMARK_MAX_DURATION_S is hours): a bound before a time is snapped.
MAX_SEGMENT_TIME_S = 1e9
# A band may reach this far past the Nyquist frequency (drawn to the top of a spectrogram,
# rounded): it ends there. Further is refused.
NYQUIST_SLACK_HZ = 1.0
MIN_BAND_HZ = 10.0  # the narrowest band: the workspace's too (bands.js MIN_HZ)


def _snap(value: float, *, down: bool = False) -> float:
    """To the nearest 10 ms, halves up (or `down` to the step at or before it), read to the
    microsecond first: 0.135 s (stored as 0.13500000000000001) and 0.125 went one down and one
    up (0.14 and 0.12), so a 10 ms call of 0.135-0.145 became nothing and 0.125-0.135 became
    20 ms. (Read to the millisecond, 0.0049 became 0.005, then 0.01.)"""
    us = math.floor(float(value) * 1_000_000 + 0.5)
    step = round(SEGMENT_PRECISION_S * 1_000_000)
    steps = us // step if down else math.floor(us / step + 0.5)
    return round(steps * SEGMENT_PRECISION_S, 2)


def segment_name(raw: dict, i: int) -> str:
    """How an error names a segment: "segment 3" (the third given), or the manifest's own
    "row 14" where it came from a row of one (its `row`)."""
    row = raw.get("row") if isinstance(raw, dict) else None
    return f"row {row}" if isinstance(row, int) and not isinstance(row, bool) else f"segment {i}"


def _hz(value: float) -> str:
    """A frequency as sent, to its last digit (`:g` wrote 10000.01 as "10000")."""
    return f"{value:.12g}"


def segment_band(raw: dict, clip: Clip, name: str) -> tuple[float | None, float | None]:
    """A segment's frequency band from its `low_freq` and `high_freq` (Hz), or (None, None)
    for every frequency: neither given, or a band from 0 Hz to the clip's Nyquist frequency
    (a Raven selection of the whole height). Rounded to 0.1 Hz. A band above the Nyquist
    frequency, upside down or half given is refused, naming the segment."""
    low, high = raw.get("low_freq"), raw.get("high_freq")
    if low in (None, "") and high in (None, ""):
        return None, None
    if low in (None, "") or high in (None, ""):
        raise DomainError(
            f"{name}: a frequency band needs both low_freq and high_freq (Hz), or neither "
            "(every frequency)"
        )
    try:
        if isinstance(low, bool) or isinstance(high, bool):  # true was 1 Hz
            raise TypeError
        sent = float(low), float(high)
    except (TypeError, ValueError):
        raise DomainError(f"{name}: low_freq and high_freq must be numbers (Hz)") from None
    if not (math.isfinite(sent[0]) and math.isfinite(sent[1])):
        raise DomainError(f"{name}: low_freq and high_freq must be numbers (Hz)")
    low, high = round(sent[0], 1), round(sent[1], 1)
    if low < 0:
        raise DomainError(f"{name}: low_freq {_hz(sent[0])} Hz is below 0 Hz")
    if high - low < MIN_BAND_HZ and high > low:
        raise DomainError(
            f"{name}: a band of {_hz(low)}-{_hz(high)} Hz is narrower than {MIN_BAND_HZ:g} Hz: "
            "give a wider one, or none (every frequency)"
        )
    if high <= low:
        raise DomainError(
            f"{name}: high_freq {_hz(sent[1])} Hz must be above low_freq {_hz(sent[0])} Hz"
            + (" (in steps of 0.1 Hz)" if sent[1] > sent[0] else "")
        )
    nyquist = clip.sample_rate / 2 if clip.sample_rate else None
    if nyquist:
        if high > nyquist + NYQUIST_SLACK_HZ:
            raise DomainError(
                f"{name}: high_freq {_hz(sent[1])} Hz is above the clip's highest frequency "
                f"({nyquist:g} Hz, half its sample rate of {clip.sample_rate} Hz)"
            )
        high = min(high, nyquist)  # within the slack: still MIN_BAND_HZ less a hertz wide
        if low == 0 and high >= nyquist:
            return None, None  # the whole band: every frequency
    return low, high


def annotation_input_build(
    project: Project,
    clip: Clip,
    *,
    clip_labels: Iterable = (),
    segments: Iterable[dict] = (),
    create_labels: bool = False,
    user=None,
    kept_labels: Callable[[], set[int]] | None = None,
) -> AnnotationInput:
    """Validate raw input (label refs, segment dicts) against the clip and the project's rules.
    `kept_labels()`, asked only when a deprecated label (or, in a leaves-only project, one
    with kinds) is given, names the labels the edited annotation already has: those may stay
    (deprecated means not chosen anew)."""
    known: dict = {}
    data = AnnotationInput(
        clip_labels=labels_resolve(
            project, clip_labels, create=create_labels, user=user, known=known
        )
    )
    for i, raw in enumerate(segments, start=1):  # "segment 1" is the first, as people count
        name = segment_name(raw, i)
        try:
            start, end = float(raw["start"]), float(raw["end"])
        except (KeyError, TypeError, ValueError):
            raise DomainError(f"{name}: start and end must be numbers (seconds)") from None
        if start != start or end != end:  # NaN
            raise DomainError(f"{name}: start and end must be numbers (seconds)")
        if max(abs(start), abs(end)) > MAX_SEGMENT_TIME_S:  # snapping 1e308 would overflow
            raise DomainError(f"{name}: start and end must be within the clip (seconds)")
        at_the_end = clip.duration and abs(end - clip.duration) <= SEGMENT_PRECISION_S / 2 + 1e-9
        sent = (start, end)
        # As sent, not as rounded: up to 10 ms past the end is the end (0.37495 on a 0.36875 s
        # clip rounded to 0.38 and was refused), and a segment must reach into the clip.
        if clip.duration and sent[1] > clip.duration + SEGMENT_PRECISION_S:
            raise DomainError(
                f"{name}: end {sent[1]:g} s is past the clip's end ({clip.duration:g} s)"
            )
        wholly_before = sent[0] < 0 and sent[1] <= 0
        if wholly_before or sent[0] < -SEGMENT_PRECISION_S:
            # Up to 10 ms before the start is the start, as up to 10 ms past the end is the
            # end (-0.006 was refused where -0.004 was taken).
            raise DomainError(
                f"{name}: from {sent[0]:g} to {sent[1]:g} s is before the clip starts"
                if wholly_before
                else f"{name}: start {sent[0]:g} s is before the clip starts"
            )
        if start < 0:
            start = 0.0
        start, end = _snap(start), _snap(end)
        if sent[0] < sent[1] and end <= start:
            # A call shorter than 10 ms is marked by the 10 ms from where it starts, as the
            # workspace marks a click; it was refused with "end 0.1 s must be after 0.1 s".
            end = round(start + SEGMENT_PRECISION_S, 2)
        if at_the_end or (clip.duration and end > clip.duration):
            # A segment to the clip's end ends there, not at the nearest 10 ms past it (0.25 s
            # was stored on a 0.241 s clip, and exported so); a clip shorter than 10 ms can
            # then take one.
            end = clip.duration
            if sent[0] < sent[1] and end - start < SEGMENT_PRECISION_S - 1e-9:
                # A call in the clip's last 10 ms, its start rounded to (or past) the end: the
                # last 10 ms at least, from the step at or before them (it was refused, with
                # the clip's own end called past it, or kept 5.5 ms long).
                start = min(start, max(0.0, _snap(end - SEGMENT_PRECISION_S, down=True)))
        if end <= start:
            raise DomainError(f"{name}: end {sent[1]:g} s must be after start {sent[0]:g} s")
        channel = raw.get("channel")
        if channel is not None:
            try:
                channel = int(channel)
            except (TypeError, ValueError):
                raise DomainError(f"{name}: channel must be an integer") from None
            if clip.channels and not 0 <= channel < clip.channels:
                raise DomainError(
                    f"{name}: channel {channel} does not exist (clip has {clip.channels})"
                )
        labels = labels_resolve(
            project, raw.get("labels") or [], create=create_labels, user=user, known=known
        )
        if not labels:
            raise DomainError(f"{name} ({start}-{end} s) has no label")
        low_freq, high_freq = segment_band(raw, clip, name)
        data.segments.append(
            SegmentInput(
                start=start,
                end=end,
                labels=labels,
                channel=channel,
                low_freq=low_freq,
                high_freq=high_freq,
            )
        )
    # A child implies its ancestors: stored once, as the most specific labels only.
    data.clip_labels = labels_collapse(data.clip_labels)
    for seg in data.segments:
        seg.labels = labels_collapse(seg.labels)
    # The same segment twice (times, channel, band and labels as snapped) is one: 5,000 copies of
    # one segment were stored, and counted 5,000 times by the exports. In a multi-label
    # project one span with several labels is one segment with those labels: "Accept all"
    # made a segment per suggested label over one span, and a later label merge left two
    # identical segments in the exports.
    multi = project.label_mode == Project.LabelMode.MULTI
    by_span: dict[tuple, SegmentInput] = {}
    unique = []
    for seg in data.segments:
        key = (seg.start, seg.end, seg.channel, seg.band)
        if not multi:
            key = (*key, frozenset(lb.pk for lb in seg.labels))
        kept = by_span.get(key)
        if kept is None:
            by_span[key] = seg
            unique.append(seg)
        elif multi:
            kept.labels = labels_collapse(
                [*kept.labels, *(lb for lb in seg.labels if lb not in kept.labels)]
            )
    data.segments = unique
    rules_check(project, data, kept_labels)
    return data


def rules_check(
    project: Project, data: AnnotationInput, kept_labels: Callable[[], set[int]] | None = None
) -> None:
    """The project's rules, enforced on every annotation and every import. A deprecated label
    is refused unless `kept_labels()` has it (the annotation had it before this edit)."""
    mode = project.annotation_mode
    if mode == Project.AnnotationMode.CLIP and data.segments:
        raise DomainError("this project takes clip labels only, not segments")
    if mode == Project.AnnotationMode.SEGMENTS and data.clip_labels:
        raise DomainError("this project takes segments only, not clip labels")
    single = project.label_mode == Project.LabelMode.SINGLE
    if single and len(data.clip_labels) > 1:
        raise DomainError(
            "this project is single-label: choose one clip label, not "
            + ", ".join(lb.path for lb in data.clip_labels)
        )
    for seg in data.segments:
        if single and len(seg.labels) > 1:
            raise DomainError(
                f"this project is single-label: segment {seg.start}-{seg.end} s has several labels"
            )
    every = list(data.clip_labels) + [lb for seg in data.segments for lb in seg.labels]
    # Deprecated, or under a deprecated label: a lead who deprecates "bat" means its kinds too.
    # The tree is cached per ontology version (one query after a change); a top-level label
    # has nothing above it.
    nested = any(lb.parent_id is not None for lb in every)
    tree = tree_get(project.ontology) if nested else None
    deprecated = [lb for lb in every if lb.deprecated or (tree and lb.pk in tree.retired)]
    if deprecated:
        kept = kept_labels() if kept_labels is not None else set()
        for label in deprecated:
            if label.pk in kept:
                continue
            why = f"label {label.path!r} is deprecated and cannot be chosen"
            if not label.deprecated:
                above = next((a for a in tree.ancestors(label.pk) if a.deprecated), None)
                under = f"{above.path!r}" if above else "a label above it"
                why = f"label {label.path!r} cannot be chosen: {under} is deprecated"
            raise DomainError(why, code="deprecated_label", extra={"label": label.path})
    if project.leaves_only and every:
        with_children = set(
            Label.objects.filter(parent__in=every).values_list("parent_id", flat=True)
        )
        parents = [label for label in every if label.pk in with_children]
        # A label given kinds after the annotation chose it stays on it (an unchanged
        # resubmit, a reviewer's correction that keeps it were refused), as a deprecated one
        # does; it is not chosen anew.
        kept = kept_labels() if parents and kept_labels is not None else set()
        for label in parents:
            if label.pk not in kept:
                raise DomainError(
                    f"label {label.path!r} is not a leaf; this project takes leaves: choose "
                    "one of its kinds",
                    code="not_leaf",
                    extra={"label": label.path},
                )


def annotation_label_ids(annotation: Annotation | None) -> set[int]:
    """Every label an annotation uses, on the clip or on a segment (none for no annotation)."""
    if annotation is None:
        return set()
    return set(
        ClipLabel.objects.filter(annotation=annotation).values_list("label_id", flat=True)
    ) | set(
        SegmentLabel.objects.filter(segment__annotation=annotation).values_list(
            "label_id", flat=True
        )
    )


def annotation_snapshot(annotation: Annotation) -> dict:
    """The annotation as its revisions store it. Three queries whatever its size (it read each
    segment's labels on their own: 5,000 queries before a 5,000-segment clip's page came), or
    none for relations the caller prefetched."""
    cache = getattr(annotation, "_prefetched_objects_cache", {})
    clip_labels = annotation.clip_labels.all()
    if "clip_labels" not in cache:
        clip_labels = clip_labels.select_related("label")
    segments = annotation.segments.all()
    if "segments" not in cache:
        segments = segments.prefetch_related("segment_labels__label")
    return {
        "status": annotation.status,
        "clip_labels": [cl.label.path for cl in clip_labels],
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "channel": s.channel,
                **_band_of(s),
                "labels": [sl.label.path for sl in s.segment_labels.all()],
            }
            for s in segments
        ],
        "lead_time": annotation.lead_time,
        **_flags(annotation.unsure, annotation.note),
    }


def _band_of(segment) -> dict:
    """A segment's band for a snapshot: its keys only when it has one (older revisions, and
    segments of every frequency, have none)."""
    if segment.low_freq is None:
        return {}
    return {"low_freq": segment.low_freq, "high_freq": segment.high_freq}


def _flags(unsure: bool, note: str) -> dict:
    """A revision's doubt and note, only when there are any (older revisions have neither)."""
    return {**({"unsure": True} if unsure else {}), **({"note": note} if note else {})}


def _write_content(annotation: Annotation, data: AnnotationInput, *, fresh: bool = False) -> None:
    if not fresh:  # a new annotation has nothing to replace: two round trips saved per submit
        annotation.clip_labels.all().delete()
        annotation.segments.all().delete()
    ClipLabel.objects.bulk_create(
        [ClipLabel(annotation=annotation, label=lb) for lb in data.clip_labels]
    )
    # Two statements for any number of segments (one each, with its labels' own, was 10,000
    # round trips to save a clip of 5,000). bulk_create sets the rows' ids on PostgreSQL and
    # on SQLite from 3.35.
    rows = Segment.objects.bulk_create(
        [
            Segment(
                annotation=annotation,
                start=seg.start,
                end=seg.end,
                channel=seg.channel,
                low_freq=seg.low_freq,
                high_freq=seg.high_freq,
            )
            for seg in data.segments
        ]
    )
    SegmentLabel.objects.bulk_create(
        [
            SegmentLabel(segment=row, label=lb)
            for row, seg in zip(rows, data.segments, strict=True)
            for lb in seg.labels
        ]
    )
    # What was written, for answers about it without reading the rows back
    # (AnnotationOutSerializer reads it when present).
    annotation.written = data


def _deleted_kept(annotation: Annotation) -> dict:
    """What the clip's history keeps of an annotation about to be deleted (its revisions go
    with it): the annotation as it last was, its review, and every revision (who, when, what,
    the content), so that the history reads as before, plus the deletion."""
    revisions = annotation.revisions.select_related("author").order_by("version", "id")
    return {
        "annotation": annotation.pk,
        "annotator": annotation.annotator.username,
        "annotator_id": annotation.annotator_id,  # who may see it: by id (a name may change)
        "source": annotation.source,
        "version": annotation.version,
        "reviewed_by": annotation.reviewed_by.username if annotation.reviewed_by_id else None,
        "review_comment": annotation.review_comment,
        **annotation_snapshot(annotation),
        "revisions": [
            {
                "version": rev.version,
                "author": rev.author.username if rev.author_id else None,
                "action": rev.action,
                "comment": rev.comment,
                "created_at": rev.created_at.isoformat(),
                "data": rev.data,
            }
            for rev in revisions
        ],
    }


def clip_annotation_count_refresh(clip_id: int) -> int:
    """Recount the clip's submitted annotations; returns 0 when the clip is gone.

    One UPDATE with the count as a subquery: a round trip fewer on the submit path."""
    counted = (
        Annotation.objects.filter(clip_id=OuterRef("pk"), status__in=COUNTED_STATUSES)
        .order_by()
        .values("clip_id")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )
    return Clip.objects.filter(pk=clip_id).update(
        annotation_count=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
    )


def _content(snapshot: dict) -> tuple:
    """The labels of a snapshot, without its status and times."""
    return (
        sorted(snapshot["clip_labels"]),
        sorted(
            (
                s["start"],
                s["end"],
                s["channel"] if s["channel"] is not None else -1,
                s.get("low_freq") or 0.0,
                s.get("high_freq") or 0.0,
                sorted(s["labels"]),
            )
            for s in snapshot["segments"]
        ),
    )


def annotation_input_changes(annotation: Annotation, data: AnnotationInput) -> bool:
    """Whether writing `data` would change `annotation`'s labels or segments."""
    return _content(_snapshot_of(annotation, data)) != _content(annotation_snapshot(annotation))


def _labeled_content(annotation: Annotation) -> tuple | None:
    """The labels a training counts of `annotation` as it stands, by today's label paths, or
    None when it counts none (a skip, a draft, a rejection). Not its last revision's: a
    rename, move or merge since leaves old paths there, and the same labels sent again read
    as an edit (a new version, and a history blaming the annotator for the merge)."""
    if annotation.status not in LABELED_STATUSES:
        return None
    return _content(annotation_snapshot(annotation))


def _snapshot_of(annotation: Annotation, data: AnnotationInput) -> dict:
    """`annotation_snapshot` of an annotation just written from `data`, without reading the
    rows back (the same order: clip labels as written, segments by start then insertion)."""
    return {
        "status": annotation.status,
        "clip_labels": [lb.path for lb in data.clip_labels],
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "channel": s.channel,
                **_band_of(s),
                "labels": [lb.path for lb in s.labels],
            }
            for s in sorted(data.segments, key=lambda s: s.start)
        ],
        "lead_time": annotation.lead_time,
        **_flags(annotation.unsure, annotation.note),
    }


# No savepoint of its own: its callers run it inside their transaction and none goes on after
# an error from it, so a savepoint would only cost two round trips per submission.
@transaction.atomic(savepoint=False)
def annotation_save(
    *,
    clip: Clip,
    user,
    data: AnnotationInput,
    status: str = Annotation.Status.SUBMITTED,
    source: str = Annotation.Source.MANUAL,
    expected_version: int | None = None,
    lead_time: float = 0.0,
    suggestion_feedback: list | None = None,
    merge: bool = False,
    idempotency_key: str = "",
    replace_reviewed: bool = True,
) -> Annotation:
    """Create or update `user`'s annotation of `clip`.

    `expected_version` is the version the client loaded; if the stored one has moved on, the
    write is refused with 409 rather than overwriting someone else's change. With `merge`,
    labels and segments are added to what is there (imports of several rows for one file).
    Without `replace_reviewed`, an accepted annotation (a reviewer's decision, or their
    correction) is not changed: 409 `reviewed`; the same labels sent again change nothing.
    """
    annotation = Annotation.objects.select_for_update().filter(clip=clip, annotator=user).first()
    fresh = annotation is None
    before = None if fresh else _labeled_content(annotation)
    # what this save says of the doubt and the note; what it does not say stays as it is
    flags = {k: v for k, v in (("unsure", data.unsure), ("note", data.note)) if v is not None}
    if annotation is None:
        if expected_version not in (None, 0):
            raise Conflict(
                f"you have no annotation of this clip (expected_version {expected_version}: it "
                "was removed, or never saved); reload the clip, or send expected_version 0",
                code="stale",
            )
        annotation = Annotation.objects.create(
            clip=clip,
            annotator=user,
            status=status,
            source=source,
            version=1,
            ontology_version=clip.project.ontology.version,
            lead_time=max(0.0, lead_time),
            suggestion_feedback=suggestion_feedback or [],
            **flags,
        )
    else:
        unchanged = before == _content(_snapshot_of(annotation, data)) and all(
            getattr(annotation, k) == v for k, v in flags.items()
        )
        if unchanged and not merge and annotation.status in _AS_SUBMITTED.get(status, ()):
            # What is stored already, sent again: the annotator's own submit whose answer was
            # lost (or made in another tab), from an older version or without one. Nothing to
            # save, and nothing to resolve (from an older version it was a 409 "changed
            # elsewhere"; without one, a new version with an empty revision).
            annotation.labels_changed = False
            return annotation
        if expected_version is not None and expected_version != annotation.version:
            raise _stale(annotation, expected_version)
        if not replace_reviewed and annotation.status == Annotation.Status.ACCEPTED:
            if unchanged:
                annotation.labels_changed = False  # as accepted: nothing to save
                return annotation
            by = annotation.reviewed_by.username if annotation.reviewed_by else "a reviewer"
            verb, said = _decision(annotation)  # as a rejection's 409 quotes the comment
            raise Conflict(
                f"{by} {verb} this annotation{said}; a change sends it back to review: submit "
                "again with replace_reviewed to save it",
                code="reviewed",
                extra={"current_version": annotation.version, "reviewed_by": by},
            )
        if merge:
            data, added = _merged(annotation, data)
            if not added:  # a manifest imported again: no new version, no empty revision
                return annotation
            # labels deprecated since the annotation got them may stay (read only when a
            # deprecated label is among them: nothing is written before the check)
            rules_check(clip.project, data, kept_labels=lambda: annotation_label_ids(annotation))
        annotation.version += 1
        annotation.status = status
        annotation.lead_time = annotation.lead_time + max(0.0, lead_time)
        annotation.ontology_version = clip.project.ontology.version
        if suggestion_feedback is not None:
            annotation.suggestion_feedback = suggestion_feedback
        for k, v in flags.items():
            setattr(annotation, k, v)
        annotation.save(
            update_fields=[
                "version",
                "status",
                "lead_time",
                "ontology_version",
                "suggestion_feedback",
                *flags,
                "updated_at",
            ]
        )
    _write_content(annotation, data, fresh=fresh)
    snapshot = _snapshot_of(annotation, data)
    AnnotationRevision.objects.create(
        annotation=annotation,
        version=annotation.version,
        author=user,
        action=status,
        data=snapshot,
        idempotency_key=idempotency_key,
    )
    # Whether the save gives a training something it did not have: a first label, or labels
    # that differ from what was there. The same labels sent again (a client re-syncing, a
    # resubmission without a change) count for nothing towards the next training.
    annotation.labels_changed = before is None or before != _content(snapshot)
    # The UPDATE locks the clip's row, as a lead's clip removal does: the removal either
    # waited for this save and saw its annotation (and kept the clip), or deleted the clip
    # first, and then nothing here is kept (the foreign keys are only checked at commit).
    if not clip_annotation_count_refresh(clip.pk):
        raise NotFound(CLIP_DELETED)
    return annotation


# A save of status S finds nothing to do when the stored annotation has the same content and
# one of these statuses (an accepted one stays accepted: the same labels change nothing).
_AS_SUBMITTED = {
    Annotation.Status.SUBMITTED: (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED),
}


def annotation_last_action(annotation: Annotation) -> str | None:
    """The action of an annotation's last revision ("submitted", "accept", "correct", ...)."""
    last = annotation.revisions.order_by("-version", "-pk").values_list("action", flat=True)
    return last.first()


def _decision(annotation: Annotation) -> tuple[str, str]:
    """("accepted" or "corrected", ": “their comment”" or "") of an accepted annotation: the
    messages said "accepted (or corrected)" and left the reviewer's comment out."""
    verb = "corrected" if annotation_last_action(annotation) == "correct" else "accepted"
    comment = (annotation.review_comment or "").strip()
    return verb, f": “{comment}”" if comment else ""


def _stale(annotation: Annotation, expected_version: int) -> Conflict:
    """The 409 for a save from an older version, saying who moved it on when a reviewer did
    (a rejection's comment was otherwise never seen: "Save mine over it" buried it)."""
    extra = {"current_version": annotation.version, "status": annotation.status}
    by = annotation.reviewed_by.username if annotation.reviewed_by_id else "a reviewer"
    if annotation.status == Annotation.Status.REJECTED:
        comment = (annotation.review_comment or "").strip()
        said = f": “{comment}”" if comment else ""
        extra.update(reviewed_by=by, review_comment=comment)
        return Conflict(
            f"{by} rejected this annotation while you had it open{said}; load the latest to "
            "see it, or save yours over it",
            code="stale",
            extra=extra,
        )
    if annotation.status == Annotation.Status.ACCEPTED and annotation.reviewed_by_id:
        verb, said = _decision(annotation)
        extra.update(reviewed_by=by, review_comment=(annotation.review_comment or "").strip())
        return Conflict(
            f"{by} {verb} this annotation while you had it open{said}; load the latest to see "
            "it, or save yours over it",
            code="stale",
            extra=extra,
        )
    return Conflict(
        f"this annotation was changed elsewhere (version {annotation.version}, you "
        f"loaded version {expected_version}); reload to see the latest before saving",
        code="stale",
        extra=extra,
    )


CLIP_DELETED = "this clip was deleted by a lead of the project"


def clip_row_lock(clip_id: int) -> None:
    """Lock the clip's row for the current transaction (a lead's removal then waits for it),
    or raise NotFound when a removal has already taken it."""
    if not Clip.objects.select_for_update().filter(pk=clip_id).exists():
        raise NotFound(CLIP_DELETED)


def _merged(annotation: Annotation, data: AnnotationInput) -> tuple[AnnotationInput, bool]:
    """What the annotation has plus what `data` adds to it, and whether it adds anything."""
    existing_labels = [cl.label for cl in annotation.clip_labels.select_related("label")]
    labels = existing_labels + [lb for lb in data.clip_labels if lb not in existing_labels]
    segments = [
        SegmentInput(
            start=s.start,
            end=s.end,
            channel=s.channel,
            low_freq=s.low_freq,
            high_freq=s.high_freq,
            labels=[sl.label for sl in s.segment_labels.all()],
        )
        for s in annotation.segments.prefetch_related("segment_labels__label")
    ]
    had = len(segments)

    def key(s: SegmentInput) -> tuple:
        return (s.start, s.end, s.channel, s.band, tuple(sorted(lb.pk for lb in s.labels)))

    keys = {key(s) for s in segments}
    for seg in data.segments:
        k = key(seg)
        if k not in keys:
            segments.append(seg)
            keys.add(k)
    added = len(labels) > len(existing_labels) or len(segments) > had
    return AnnotationInput(clip_labels=labels, segments=segments), added


def annotation_counts_by_status(project: Project) -> dict[str, int]:
    rows = Annotation.objects.filter(clip__project=project).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def sees_every_annotation(role: str | None, project: Project) -> bool:
    """Whether a member in `role` sees every annotation of the project's clips (a reviewer or
    lead, or anyone where the project shows others' annotations); otherwise their own and
    imported ones only."""
    return role in ("lead", "reviewer") or project.show_others_annotations


def annotations_visible_to(user, clip: Clip, role: str):
    qs = clip.annotations.select_related("annotator").prefetch_related(
        "clip_labels__label", "segments__segment_labels__label"
    )
    if sees_every_annotation(role, clip.project):
        return qs
    return qs.filter(Q(annotator=user) | Q(source=Annotation.Source.IMPORTED))


FEEDBACK_ACTIONS = ("accepted", "edited", "rejected", "ignored")


IDEMPOTENCY_KEY_MAX = 64  # AnnotationRevision.idempotency_key


def annotation_for_idempotency_key(*, clip: Clip, user, key: str) -> Annotation | None:
    """The annotation a submission with `key` already saved, or None when the key is new.

    A client that lost the answer to a submission (a timeout, a 503 while the database
    restarted after the commit) sends it again with the same key and gets the saved
    annotation instead of a second write. A key is the client's and names one submission:
    reusing it for another clip is refused."""
    if not key:
        return None
    revision = (
        AnnotationRevision.objects.filter(author=user, idempotency_key=key)
        .select_related("annotation")
        .first()
    )
    if revision is None:
        return None
    if revision.annotation.clip_id != clip.pk:
        raise Conflict(
            "this Idempotency-Key was already used for another clip; send a new key for each "
            "submission",
            code="idempotency_key_reused",
        )
    revision.annotation.keyed_revision_data = revision.data
    return revision.annotation


@transaction.atomic
def annotation_submit(
    *,
    clip: Clip,
    user,
    clip_labels: Iterable = (),
    segments: Iterable[dict] = (),
    expected_version: int | None = None,
    lead_time: float = 0.0,
    suggestion_feedback: list | None = None,
    idempotency_key: str = "",
    replace_reviewed: bool = False,
    only_if_needed: bool = False,
    unsure: bool | None = None,
    note: str | None = None,
) -> Annotation:
    """A human's submission from the workspace: validate, save (409 when stale, or when it
    would change an accepted annotation without `replace_reviewed`, or with `only_if_needed`
    when the clip has all its annotations without theirs), drop their draft and their queue
    lock, and tell the ML layer once the transaction has committed.

    With an `idempotency_key` the submission is saved at most once: a retry with the same
    key returns the saved annotation (with `replayed = True`) and writes nothing."""

    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise DomainError(f"Idempotency-Key is longer than {IDEMPOTENCY_KEY_MAX} characters")
    saved = annotation_for_idempotency_key(clip=clip, user=user, key=idempotency_key)
    if saved is not None:
        _same_submission_or_conflict(saved, clip, clip_labels, segments)
        saved.replayed = True
        return saved
    submit = functools.partial(
        _submit_once,
        clip=clip,
        user=user,
        clip_labels=list(clip_labels),
        segments=list(segments),
        expected_version=expected_version,
        lead_time=lead_time,
        suggestion_feedback=suggestion_feedback,
        idempotency_key=idempotency_key,
        replace_reviewed=replace_reviewed,
        only_if_needed=only_if_needed,
        unsure=unsure,
        note=note,
    )
    try:
        return submit()
    except IntegrityError:
        # A label it names was merged away or deleted while it was saved: PostgreSQL checks
        # foreign keys at commit, so the save fails there. Once more, from the labels'
        # paths, which now name the merge's target (or are refused as unknown: a 400).
        connection = transaction.get_connection()
        if connection.in_atomic_block and connection.needs_rollback:
            raise  # the caller's transaction is broken: it, not this, must be rolled back
        return submit()


def _same_submission_or_conflict(saved: Annotation, clip: Clip, clip_labels, segments) -> None:
    """A key names one submission: sent again with other labels, the replay answered 200 with
    the first one's and dropped the new labels without a word. What cannot be read any more
    (a label since deleted) is taken as the same: the first delivery was saved."""
    try:
        data = annotation_input_build(
            clip.project,
            clip,
            clip_labels=list(clip_labels),
            segments=list(segments),
            kept_labels=lambda: annotation_label_ids(saved),
        )
    except DomainError:
        return
    if _content(_snapshot_of(saved, data)) != _content(saved.keyed_revision_data):
        raise Conflict(
            "this Idempotency-Key was already used for another submission of this clip, with "
            "other labels; send a new key for each submission",
            code="idempotency_key_reused",
        )


def _submit_once(
    *,
    clip: Clip,
    user,
    clip_labels: list,
    segments: list[dict],
    expected_version: int | None,
    lead_time: float,
    suggestion_feedback: list | None,
    idempotency_key: str,
    replace_reviewed: bool,
    only_if_needed: bool = False,
    unsure: bool | None = None,
    note: str | None = None,
) -> Annotation:
    if only_if_needed:
        clip_room_or_conflict(clip=clip, user=user)
    data = annotation_input_build(
        clip.project,
        clip,
        clip_labels=clip_labels,
        segments=segments,
        kept_labels=lambda: annotation_label_ids(
            Annotation.objects.filter(clip=clip, annotator=user).first()
        ),
    )
    data.unsure = unsure
    if note is not None:
        note = note.strip()
        if len(note) > NOTE_MAX:
            raise DomainError(f"note: at most {NOTE_MAX} characters ({len(note)} sent)")
        data.note = note
    if not data.clip_labels and not data.segments:  # as the workspace: nothing replaces work
        give = {
            Project.AnnotationMode.CLIP: "a clip label",
            Project.AnnotationMode.SEGMENTS: "a segment",
        }.get(clip.project.annotation_mode, "a clip label or a segment")
        raise DomainError(
            f"nothing to save: give {give} (to pass over the clip, skip it)", code="empty"
        )
    save = functools.partial(
        annotation_save,
        clip=clip,
        user=user,
        data=data,
        status=Annotation.Status.SUBMITTED,
        source=Annotation.Source.MANUAL,
        expected_version=expected_version,
        lead_time=lead_time,
        suggestion_feedback=suggestion_feedback,
        idempotency_key=idempotency_key,
        replace_reviewed=replace_reviewed,
    )
    if not idempotency_key:
        annotation = save()  # nothing to recover from: no savepoint (two round trips)
    else:
        try:
            with transaction.atomic():
                annotation = save()
        except (IntegrityError, Conflict):
            # Two deliveries of one submission raced: the first one's write is the answer.
            saved = annotation_for_idempotency_key(clip=clip, user=user, key=idempotency_key)
            if saved is None:
                raise
            saved.replayed = True
            return saved
    annotation.replayed = False
    AnnotationDraft.objects.filter(clip=clip, user=user).delete()
    clip_lock_release(clip=clip, user=user)
    project_id = clip.project_id
    if not annotation.labels_changed:
        return annotation

    def notify() -> None:
        from ml_backend import hooks

        hooks.annotation_submitted(project_id=project_id)

    # robust: the annotation is saved; a failure to count it must not turn that into a 500.
    transaction.on_commit(notify, robust=True)
    return annotation


@transaction.atomic
def annotation_skip(*, clip: Clip, user, lead_time: float = 0.0) -> Annotation | None:
    """Pass on a clip: it leaves this annotator's queue (recorded as `skipped`) and their lock
    is released. An annotation they already submitted is left as it is."""

    clip_lock_release(clip=clip, user=user)
    # The work in progress goes with the skip: kept, it came back with the clip as unsaved
    # work based on version 0, and saving it met the skip's version as a 409.
    AnnotationDraft.objects.filter(clip=clip, user=user).delete()
    existing = Annotation.objects.filter(clip=clip, annotator=user).first()
    if existing is not None and existing.status != Annotation.Status.DRAFT:
        return existing
    return annotation_save(
        clip=clip,
        user=user,
        data=AnnotationInput(),
        status=Annotation.Status.SKIPPED,
        lead_time=lead_time,
    )


def annotation_draft_save(
    *, clip: Clip, user, data: dict, base_version: int = 0, lead_time: float = 0.0
):
    """Autosave: keep the workspace's state as it is (not validated: a draft may be half
    done) and renew the annotator's lock on the clip. A clip a lead deleted meanwhile (its
    row went after the API read it) is NotFound: the clip's row is locked first, as
    `annotation_save` does, so a removal either waits for the draft or has already gone;
    on SQLite, where there are no row locks, the draft's foreign key fails at commit."""

    try:
        with transaction.atomic():
            clip_row_lock(clip.pk)
            saved = (
                Annotation.objects.filter(clip=clip, annotator=user)
                .exclude(status=Annotation.Status.DRAFT)
                .values_list("version", flat=True)
                .first()
            )
            if saved is not None and saved > max(0, int(base_version or 0)):
                # Sent before a save of a later version (an autosave in flight when the
                # annotator submitted or skipped): stored, it would come back as unsaved work
                # and meet that version as a 409. Answered, not kept.
                return AnnotationDraft(clip=clip, user=user, data=data, base_version=base_version)
            draft, _ = AnnotationDraft.objects.update_or_create(
                clip=clip,
                user=user,
                defaults={
                    "data": data,
                    "base_version": max(0, int(base_version or 0)),
                    "lead_time": max(0.0, float(lead_time or 0.0)),
                },
            )
    except IntegrityError:
        if Clip.objects.filter(pk=clip.pk).exists():
            raise
        raise NotFound(CLIP_DELETED) from None
    clip_lock_renew(clip=clip, user=user)
    return draft


def annotation_draft_delete(*, clip: Clip, user) -> None:

    AnnotationDraft.objects.filter(clip=clip, user=user).delete()


def annotation_delete(*, annotation: Annotation, user, is_lead: bool) -> None:
    """Delete an annotation (Label Studio's `DELETE /api/annotations/<id>/`): its annotator's
    own unless a reviewer accepted it, or any of the project as its lead. Its revisions go
    with it; the clip's history keeps a line saying whose it was, what it said and who deleted
    it. A project whose rule change is refused for existing annotations ("change or delete
    them first") had no way to delete one."""
    if not is_lead:
        if annotation.annotator_id != user.pk:
            raise PermissionDenied("only a lead of the project deletes another member's annotation")
        if annotation.status == Annotation.Status.ACCEPTED:
            raise Conflict(
                "a reviewer accepted this annotation: a lead of the project can delete it",
                code="accepted",
            )
    with transaction.atomic():
        locked = Annotation.objects.select_for_update().filter(pk=annotation.pk).first()
        if locked is None:
            raise NotFound("annotation not found")
        annotation_delete_recorded(locked, by=user)


def annotation_delete_recorded(annotation: Annotation, *, by=None, where: str = "") -> None:
    """Delete `annotation` (locked by the caller's transaction) and say so in its clip's
    history: whose it was, what it said, who deleted it (`by`; None: `where` says from where,
    "in Label Studio"), and the annotation whole with its revisions (`_deleted_kept`)."""
    paths = sorted(
        {cl.label.path for cl in annotation.clip_labels.select_related("label")}
        | {
            sl.label.path
            for sl in SegmentLabel.objects.filter(segment__annotation=annotation).select_related(
                "label"
            )
        }
    )
    said = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    owner = annotation.annotator.username
    if by is None:
        who = f"{owner}'s annotation was deleted{f' {where}' if where else ''}"
    else:
        whose = "their own" if annotation.annotator_id == by.pk else f"{owner}'s"
        who = f"{by.username} deleted {whose} annotation{f' {where}' if where else ''}"
    ClipEvent.objects.create(
        clip_id=annotation.clip_id,
        author=by,
        action=ClipEvent.Action.ANNOTATION_DELETED,
        note=f"{who} ({annotation.status}"
        + (f": {said}" if said else "")
        + f", version {annotation.version})",
        data=_deleted_kept(annotation),
    )
    annotation.delete()
    clip_annotation_count_refresh(annotation.clip_id)
