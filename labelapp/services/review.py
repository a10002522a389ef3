"""Review: a reviewer accepts, rejects (with a comment) or corrects an annotation; clips with
disagreement go to adjudication; every write leaves a revision, so a clip's history shows who
changed what, when, before and after."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from labelapp import selectors
from labelapp.consensus import clip_answer, clip_vote
from labelapp.errors import Conflict, DomainError, NotFound, PermissionDenied
from labelapp.models import (
    Annotation,
    AnnotationRevision,
    Clip,
    ClipEvent,
    ClipLabel,
    Project,
    SegmentLabel,
)
from labelapp.services.annotations import (
    _write_content,  # the one place that rewrites an annotation's labels and segments
    annotation_input_build,
    annotation_input_changes,
    annotation_label_ids,
    annotation_last_action,
    annotation_snapshot,
    annotations_visible_to,
    clip_annotation_count_refresh,
    sees_every_annotation,
)

REVIEW_ROLES = (selectors.LEAD, selectors.REVIEWER)


class Action:
    ACCEPT = "accept"
    REJECT = "reject"
    CORRECT = "correct"
    ALL = (ACCEPT, REJECT, CORRECT)
    # Decisions that leave the labels as they were: the last revision that is not one of
    # these wrote the labels an annotation holds.
    CONTENTLESS = (ACCEPT, REJECT)


def last_write(annotation=None) -> QuerySet[AnnotationRevision]:
    """The revisions that wrote an annotation's labels, newest first: of `annotation`, or of
    the outer query's annotation (for a Subquery). Its first row's action is "correct" when
    the labels are a reviewer's correction; a later acceptance does not change that, and an
    annotator's later submission does."""
    of = OuterRef("pk") if annotation is None else annotation
    return (
        AnnotationRevision.objects.filter(annotation=of)
        .exclude(action__in=Action.CONTENTLESS)
        .order_by("-version")
    )


# A decision can be revisited (a reviewer changes their mind, a lead overrules); drafts and
# skips hold nothing to judge.
REVIEWABLE_STATUSES = (
    Annotation.Status.SUBMITTED,
    Annotation.Status.ACCEPTED,
    Annotation.Status.REJECTED,
)
_STATUS_AFTER = {
    Action.ACCEPT: Annotation.Status.ACCEPTED,
    Action.REJECT: Annotation.Status.REJECTED,
    # The reviewer's correction is the final answer for the clip: nothing is left to review.
    Action.CORRECT: Annotation.Status.ACCEPTED,
}


def annotation_for_reviewer(user, annotation_id) -> Annotation:
    """An annotation a lead or reviewer of its project may judge: 404 to non-members, 403 to
    annotators."""
    try:
        annotation = Annotation.objects.select_related("clip__project", "annotator").get(
            pk=int(annotation_id)
        )
    except (Annotation.DoesNotExist, ValueError, TypeError):
        raise NotFound("annotation not found") from None
    selectors.clip_for_user(user, annotation.clip_id, REVIEW_ROLES)
    return annotation


@transaction.atomic
def annotation_review(
    *,
    annotation: Annotation,
    reviewer,
    action: str,
    comment: str = "",
    expected_version: int | None,
    clip_labels: Iterable | None = None,
    segments: Iterable[dict] | None = None,
) -> Annotation:
    """Accept, reject or correct `annotation` as `reviewer`.

    The row stays the original annotator's (a correction rewrites its labels, the revision
    names the reviewer as author). `expected_version` is the version the reviewer looked at:
    if the annotator resubmitted meanwhile, the decision is refused with 409 rather than
    applied to work nobody reviewed. A rejection needs a comment: it is what the annotator
    reads to fix the annotation.
    """
    if action not in Action.ALL:
        raise DomainError(
            f"unknown review action {action!r}; choose one of {', '.join(Action.ALL)}",
            code="invalid_action",
        )
    comment = (comment or "").strip()
    if action == Action.REJECT and not comment:
        raise DomainError(
            "a rejection needs a comment telling the annotator what to fix",
            code="comment_required",
        )
    if expected_version is None:
        raise DomainError("expected_version is required: the version you reviewed")
    project = annotation.clip.project
    role = selectors.role_in_project(reviewer, project)
    if role not in REVIEW_ROLES:
        raise PermissionDenied("only a reviewer or a lead of this project reviews annotations")
    # Not the reviewer's row too: PostgreSQL locks no nullable side of an outer join.
    locked = Annotation.objects.select_for_update().select_related("clip").get(pk=annotation.pk)
    if locked.version == expected_version + 1 and _decision_resent(
        locked, reviewer, action, comment, clip_labels, segments
    ):
        # The same decision sent again (a retry after a dropped connection): answered as the
        # first was, not with a 409 naming the reviewer's own decision as someone's change.
        locked.review_warning = _accepted_tie(project, locked.clip_id)
        return locked
    if locked.version != expected_version:
        # Who moved it on, when it was a decision (two reviewers on one annotation: the
        # second read only "changed since you opened it").
        done = {Action.ACCEPT: "accepted", Action.REJECT: "rejected", Action.CORRECT: "corrected"}
        by = locked.reviewed_by.username if locked.reviewed_by_id else ""
        verb = done.get(annotation_last_action(locked)) if by else None
        if verb and locked.reviewed_by_id == reviewer.pk:
            by = "you"  # their own decision, sent again changed
        what = f"{by} {verb} it" if verb else "it changed"
        raise Conflict(
            f"this annotation was decided or changed since you opened it: {what} (version "
            f"{locked.version}, you reviewed version {expected_version}); reload it before "
            "deciding",
            code="stale",
            extra={"current_version": locked.version},
        )
    if locked.annotator_id == reviewer.pk and role != selectors.LEAD:
        raise PermissionDenied("you cannot review your own annotation; another reviewer must")
    if locked.status not in REVIEWABLE_STATUSES:
        raise DomainError(
            f"a {locked.status} annotation has nothing to review", code="not_reviewable"
        )
    if action == Action.CORRECT:
        if clip_labels is None and segments is None:
            raise DomainError("a correction needs clip_labels or segments (or both)")
        data = _correction_built(locked, clip_labels, segments)
        if not data.clip_labels and not data.segments:
            raise DomainError(
                "a correction must leave a clip label or a segment (to refuse the annotation, "
                "reject it)",
                code="empty",
            )
        if annotation_input_changes(locked, data):
            _write_content(locked, data)
        else:
            # Nothing changed: an acceptance (it was kept as a correction, and the annotator
            # was told "what you see is their version").
            action = Action.ACCEPT
    locked.status = _STATUS_AFTER[action]
    locked.version += 1
    locked.reviewed_by = reviewer
    locked.reviewed_at = timezone.now()
    locked.review_comment = comment
    locked.save(
        update_fields=[
            "status",
            "version",
            "reviewed_by",
            "reviewed_at",
            "review_comment",
            "updated_at",
        ]
    )
    AnnotationRevision.objects.create(
        annotation=locked,
        version=locked.version,
        author=reviewer,
        action=action,
        data=annotation_snapshot(locked),
        comment=comment,
    )
    clip_annotation_count_refresh(locked.clip_id)
    _adjudication_settle(locked.clip_id, by=reviewer)
    locked.review_warning = _accepted_tie(project, locked.clip_id)
    return locked


def _decision_resent(
    locked: Annotation, reviewer, action: str, comment: str, clip_labels, segments
) -> bool:
    """Whether `action` is the decision that made `locked`'s last version, sent again by its
    reviewer: the same action and comment, and for a correction the same content (a
    correction that changed nothing was kept as an acceptance)."""
    last = locked.revisions.order_by("-version").first()
    if (
        last is None
        or last.version != locked.version
        or last.author_id != reviewer.pk
        or last.comment != comment
    ):
        return False
    if action in (Action.ACCEPT, Action.REJECT):
        return last.action == action
    if action != Action.CORRECT or last.action not in (Action.CORRECT, Action.ACCEPT):
        return False
    if clip_labels is None and segments is None:
        return False
    try:
        data = _correction_built(locked, clip_labels, segments)
    except DomainError:
        return False
    return not annotation_input_changes(locked, data)


def _correction_built(locked: Annotation, clip_labels, segments):
    """A correction's content: what it gives, the annotation's own where it gives nothing
    (clip labels, segments), checked as any annotation is."""
    current = annotation_snapshot(locked)
    return annotation_input_build(
        locked.clip.project,
        locked.clip,
        clip_labels=current["clip_labels"] if clip_labels is None else clip_labels,
        segments=current["segments"] if segments is None else segments,
        kept_labels=lambda: annotation_label_ids(locked),
    )


def _accepted_tie(project: Project, clip_id: int) -> str:
    """What to say when a single-label clip's accepted annotations tie: none wins
    (`clip_vote`, as the training and the manifest read them), so the clip stays out of
    both (a reviewer accepting five, six and seven on one clip took it out without a word,
    and the disagreement list called it settled). "" when one answer wins or the project is
    multi-label."""
    if project.label_mode != Project.LabelMode.SINGLE:
        return ""
    accepted = {"annotation__clip_id": clip_id, "annotation__status": Annotation.Status.ACCEPTED}
    on_clip: dict[int, set[str]] = defaultdict(set)
    on_segments: dict[int, set[str]] = defaultdict(set)
    for annotation_id, path in ClipLabel.objects.filter(**accepted).values_list(
        "annotation_id", "label__path"
    ):
        on_clip[annotation_id].add(path)
    for annotation_id, path in SegmentLabel.objects.filter(
        **{f"segment__{k}": v for k, v in accepted.items()}
    ).values_list("segment__annotation_id", "label__path"):
        on_segments[annotation_id].add(path)
    answers = [
        clip_answer(on_clip[a], on_segments[a], multi=False) for a in {*on_clip, *on_segments}
    ]
    if clip_vote(answers, single=True) or not any(answers):
        return ""
    named = ", ".join(sorted({p for a in answers for p in a}))
    return (
        f"this clip's accepted annotations now disagree ({named}) and none has more votes: it "
        "is left out of the training and the manifest until you reject or correct the wrong "
        "ones"
    )


def _adjudication_settle(clip_id: int, *, by) -> None:
    """Any decision on a clip sent to adjudication counts as adjudicating it once none of its
    annotations waits for review any more; the clip's history says who settled it."""
    waiting = Annotation.objects.filter(clip_id=clip_id, status=Annotation.Status.SUBMITTED)
    if waiting.exists():
        return
    if Clip.objects.filter(pk=clip_id, needs_adjudication=True).update(needs_adjudication=False):
        ClipEvent.objects.create(
            clip_id=clip_id, author=by, action=ClipEvent.Action.ADJUDICATION_SETTLED
        )


@transaction.atomic
def clip_adjudication_request(*, clip: Clip, by, needed: bool = True) -> Clip:
    """Send a clip whose annotators disagree to the review queue (ahead of everything else),
    or take it off (`needed=False`). Leads and reviewers only."""
    if selectors.role_in_project(by, clip.project) not in REVIEW_ROLES:
        raise PermissionDenied("only a reviewer or a lead sends clips to adjudication")
    if needed and not clip.annotations.filter(status__in=REVIEWABLE_STATUSES).exists():
        raise DomainError("this clip has no submitted annotation to adjudicate")
    changed = Clip.objects.filter(pk=clip.pk, needs_adjudication=not needed).update(
        needs_adjudication=needed
    )
    if changed:  # sent twice is sent once, in the history too
        ClipEvent.objects.create(
            clip=clip,
            author=by,
            action=ClipEvent.Action.ADJUDICATION_REQUESTED
            if needed
            else ClipEvent.Action.ADJUDICATION_WITHDRAWN,
        )
    clip.needs_adjudication = needed
    return clip


def clip_outcome(clip: Clip, annotations: Iterable[Annotation]) -> dict:
    """What the training and the manifest take of the clip today, for its review page
    (nowhere but the manifest showed a clip's final label): {"labels": [paths], "why": ...}.
    `annotations` are the clip's, with their labels prefetched. The rules are theirs: a clip
    sent to adjudication waits; submitted and accepted annotations vote, only accepted ones
    when there are any (`consensus.reviewed_vote`); a single-label tie takes nothing."""
    from labelapp.consensus import reviewed_vote

    annotations = list(annotations)
    if clip.needs_adjudication:
        # settled once none waits for a decision (`_adjudication_settle`): the page said only
        # "until a decision settles it", and a reviewer who accepted one answer took it as
        # settled while two more waited
        waiting = sum(1 for a in annotations if a.status == Annotation.Status.SUBMITTED)
        if not waiting:  # sent after every answer was decided: the next decision settles it
            why = (
                "sent to adjudication: left out until a reviewer decides on one of its answers "
                "again (each has a decision already) or takes it off adjudication"
            )
        else:
            left = f"{waiting} answer{'s still wait' if waiting != 1 else ' still waits'}"
            why = f"sent to adjudication: left out until every answer has a decision; {left}"
        return {"labels": [], "why": why}
    multi = clip.project.label_mode == Project.LabelMode.MULTI
    pairs = []
    for a in annotations:
        if a.status not in (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED):
            continue
        on_clip = [cl.label.path for cl in a.clip_labels.all()]
        on_segments = [sl.label.path for seg in a.segments.all() for sl in seg.segment_labels.all()]
        pairs.append((a.status, clip_answer(on_clip, on_segments, multi=multi)))
    voting = [answer for status, answer in pairs if answer]
    accepted = sum(1 for status, answer in pairs if answer and status == Annotation.Status.ACCEPTED)
    won = reviewed_vote(pairs, single=not multi)
    if won:
        counted = [a for s, a in pairs if a and (not accepted or s == Annotation.Status.ACCEPTED)]
        whose = f"{'accepted answer' if accepted else 'answer'}{'' if len(counted) == 1 else 's'}"
        if multi and len(counted) > 1:
            return {"labels": won, "why": f"each chosen by at least half of {len(counted)} {whose}"}
        agree = sum(1 for a in counted if set(won) <= a)
        of = f"{agree} of {len(counted)}" if agree != len(counted) else f"{agree}"
        return {"labels": won, "why": f"from {of} {whose}"}
    if not voting:
        return {"labels": [], "why": "no submitted or accepted answer yet"}
    if multi:
        return {"labels": [], "why": "no label was chosen by half of the answers"}
    return {"labels": [], "why": "the answers tie: left out until a reviewer settles it"}


# --- reads --------------------------------------------------------------------------------


def review_queue(
    project: Project,
    reviewer,
    *,
    include_imported: bool = False,
    annotator: str = "",
    label: str = "",
    adjudication: bool | None = None,
    unsure: bool | None = None,
) -> QuerySet[Annotation]:
    """What waits for `reviewer`: submitted annotations nobody has decided on since they were
    (re)submitted, plus every judged annotation of clips sent to adjudication; those clips
    come first, then the oldest submission. A reviewer never gets their own work.

    Narrowed (a reviewer taking one annotator's work, or one label's, or the adjudications
    alone) by `annotator` (a username), `label` (a path: annotations that give it or one of
    its kinds, to the clip or a segment), `adjudication` (True: clips sent to it only,
    False: the others) and `unsure` (True: the annotations their annotator was not sure of).
    A name or path the project does not know is a DomainError."""
    waiting = Q(status=Annotation.Status.SUBMITTED) | Q(
        clip__needs_adjudication=True,
        status__in=(Annotation.Status.ACCEPTED, Annotation.Status.REJECTED),
    )
    qs = (
        Annotation.objects.filter(waiting, clip__project=project)
        .exclude(annotator=reviewer)
        .select_related("clip", "annotator", "reviewed_by")
        .prefetch_related("clip_labels__label", "segments__segment_labels__label")
    )
    if not include_imported:
        qs = qs.filter(source=Annotation.Source.MANUAL)
    if annotator:
        names = set(
            Annotation.objects.filter(clip__project=project, annotator__username__iexact=annotator)
            .values_list("annotator__username", flat=True)
            .distinct()
        )
        # Its case aside, as label paths are (an exact name first: two may differ by case).
        name = annotator if annotator in names else next(iter(names)) if len(names) == 1 else None
        if name is None and names:
            raise DomainError(
                f"{annotator!r} is ambiguous here: {', '.join(sorted(names))}; give the name "
                "as it is written",
                code="ambiguous_annotator",
            )
        if name is None:
            raise DomainError(
                f"nobody named {annotator!r} has annotated in this project", code="no_annotator"
            )
        qs = qs.filter(annotator__username=name)
    if label:
        qs = qs.filter(_gives_label(project, label))
    if adjudication is not None:
        qs = qs.filter(clip__needs_adjudication=adjudication)
    if unsure is not None:
        qs = qs.filter(unsure=unsure)
    return qs.order_by("-clip__needs_adjudication", "updated_at", "id")


def _gives_label(project: Project, path: str) -> Q:
    """Annotations that give the label `path` names, or one of its kinds, to the clip or to
    a segment: the label named and found as the exports and the clip list find it (a path
    in any case, a name only it has, a path it had before a rename)."""
    from labelapp.exports.filters import export_filters_build, giving_labels

    try:
        found = export_filters_build(project, {"label": [path]})
    except DomainError:
        raise DomainError(f"no label {path!r} in this project's labels", code="no_label") from None
    return giving_labels(found.label_ids)


def review_next_clip(project: Project, reviewer, current_clip_id: int, **filters) -> int | None:
    """The clip to review after the one open: the next in queue order after it, around to
    the head at the end, never itself (None when nothing else waits). The queue's head other
    than the open clip bounced between two clips for a reviewer who passed over one.
    `filters` narrow the queue as `review_queue`'s do."""
    ids = list(
        dict.fromkeys(
            review_queue(project, reviewer, **filters)
            .select_related(None)
            .prefetch_related(None)
            .values_list("clip_id", flat=True)
        )
    )
    if current_clip_id in ids:
        at = ids.index(current_clip_id)
        ids = ids[at + 1 :] + ids[:at]
    return ids[0] if ids else None


def annotations_reviewed_for(
    project: Project, annotator, *, statuses: Iterable[str] = (Annotation.Status.REJECTED,)
) -> QuerySet[Annotation]:
    """An annotator's own annotations with a review decision, newest decision first: what
    they are asked to fix (rejected) and, if wanted, what was accepted."""
    # Corrected: the labels are a reviewer's correction (the annotator sees that their labels
    # are not what was accepted), whoever accepted them after.
    return (
        Annotation.objects.filter(
            clip__project=project, annotator=annotator, status__in=list(statuses)
        )
        .exclude(reviewed_at=None)
        .annotate(last_action=Subquery(last_write().values("action")[:1]))
        .annotate(
            corrected=ExpressionWrapper(Q(last_action=Action.CORRECT), output_field=BooleanField())
        )
        .select_related("clip", "annotator", "reviewed_by")
        .prefetch_related("clip_labels__label", "segments__segment_labels__label")
        .order_by("-reviewed_at", "-id")
    )


def snapshot_diff(before: dict | None, after: dict) -> dict:
    """What changed between two snapshots of an annotation (`annotation_snapshot`'s shape):
    `status` [before, after] when it moved, clip labels and segments added and removed, and
    `unsure` and `note` [before, after] when they changed."""
    before = before or {}
    diff: dict = {}
    if before.get("status") != after.get("status"):
        diff["status"] = [before.get("status"), after.get("status")]
    old_labels, new_labels = before.get("clip_labels") or [], after.get("clip_labels") or []
    added = [p for p in new_labels if p not in old_labels]
    removed = [p for p in old_labels if p not in new_labels]
    if added or removed:
        diff["clip_labels"] = {"added": added, "removed": removed}

    def key(seg: dict) -> tuple:
        return (
            seg.get("start"),
            seg.get("end"),
            seg.get("channel"),
            seg.get("low_freq"),
            seg.get("high_freq"),
            tuple(sorted(seg.get("labels", []))),
        )

    old_segs = {key(s): s for s in before.get("segments") or []}
    new_segs = {key(s): s for s in after.get("segments") or []}
    seg_added = [s for k, s in new_segs.items() if k not in old_segs]
    seg_removed = [s for k, s in old_segs.items() if k not in new_segs]
    if seg_added or seg_removed:
        diff["segments"] = {"added": seg_added, "removed": seg_removed}
    # the annotator's doubt and note (a change of them alone read "no change to the labels")
    if bool(before.get("unsure")) != bool(after.get("unsure")):
        diff["unsure"] = [bool(before.get("unsure")), bool(after.get("unsure"))]
    if (before.get("note") or "") != (after.get("note") or ""):
        diff["note"] = [before.get("note") or "", after.get("note") or ""]
    return diff


def clip_history(clip: Clip, *, user=None) -> list[dict]:
    """Every write to the clip's annotations, oldest first: who (author), when, what
    (action, comment), whose annotation, and the annotation before and after with their diff.
    With `user`, only the annotations that user may see (see `annotations_visible_to`)."""
    annotations = clip.annotations.all()
    role = None
    if user is not None:
        role = selectors.role_in_project(user, clip.project)
        annotations = annotations_visible_to(user, clip, role)
    revisions = (
        AnnotationRevision.objects.filter(annotation__in=annotations)
        .select_related("author", "annotation__annotator")
        .order_by("created_at", "id")
    )
    previous: dict[int, dict] = {}
    out = []
    for rev in revisions:
        out.append(
            _revision_entry(
                id=rev.pk,
                annotation=rev.annotation_id,
                annotator=rev.annotation.annotator.username,
                version=rev.version,
                author=rev.author.username if rev.author else None,
                action=rev.action,
                comment=rev.comment,
                created_at=rev.created_at,
                before=previous.get(rev.annotation_id),
                after=rev.data,
            )
        )
        previous[rev.annotation_id] = rev.data
    # The clip's own steps (adjudication, and what the label tree did to its annotations: a
    # merge names labels of annotations an annotator of a blind project may not see) are for
    # those who review it; a deleted annotation, with the revisions it had, for those who
    # could see it.
    events = []
    for event in clip.events.select_related("author"):
        if event.action == ClipEvent.Action.ANNOTATION_DELETED and event.data:
            if user is None or _deleted_visible(event.data, user, role, clip):
                events.extend(_deleted_revisions(event.data))
                events.append(_event_entry(event))
        elif user is None or role in REVIEW_ROLES:
            events.append(_event_entry(event))
    if events:
        out = sorted(out + events, key=lambda h: h["created_at"])
    return out


def _revision_entry(*, before: dict | None, after: dict, **entry) -> dict:
    """A write to an annotation as a history entry: who, when, what, whose, and the
    annotation before and after with their diff."""
    return {
        "kind": "revision",
        **entry,
        "before": before,
        "after": after,
        "changes": snapshot_diff(before, after),
    }


def _deleted_visible(kept: dict, user, role: str | None, clip: Clip) -> bool:
    """Whether `user` could see a deleted annotation (`annotations_visible_to`'s rule)."""
    return (
        sees_every_annotation(role, clip.project)
        or (
            kept.get("annotator_id") == user.pk
            if "annotator_id" in kept
            else kept.get("annotator") == user.get_username()
        )
        or kept.get("source") == Annotation.Source.IMPORTED
    )


def _deleted_revisions(kept: dict) -> list[dict]:
    """The history entries a deleted annotation's revisions were, from what its deletion
    kept (`_deleted_kept`)."""
    from django.utils.dateparse import parse_datetime

    out, before = [], None
    for rev in kept.get("revisions") or []:
        after = rev.get("data") or {}
        out.append(
            _revision_entry(
                id=None,
                annotation=kept.get("annotation"),
                annotator=kept.get("annotator"),
                version=rev.get("version"),
                author=rev.get("author"),
                action=rev.get("action"),
                comment=rev.get("comment") or "",
                created_at=parse_datetime(rev["created_at"]),
                before=before,
                after=after,
            )
        )
        before = after
    return out


# What a deletion keeps beside the annotation's snapshot (`_deleted_kept`).
_KEPT_ONLY = (
    "annotation",
    "annotator",
    "annotator_id",
    "source",
    "version",
    "reviewed_by",
    "review_comment",
    "revisions",
)


def _event_entry(event: ClipEvent) -> dict:
    """A clip step as a history entry. A deleted annotation's carries it as it last was
    (`before`) and what went with it (`changes`: its labels and segments removed)."""
    gone = event.data if event.action == ClipEvent.Action.ANNOTATION_DELETED else {}
    before = {k: v for k, v in gone.items() if k not in _KEPT_ONLY}
    # What went: its labels and segments (its status and note are said beside them).
    kept = {k: v for k, v in before.items() if k not in ("clip_labels", "segments")}
    return {
        "kind": "clip",
        "id": event.pk,
        "annotation": gone.get("annotation"),
        "annotator": gone.get("annotator"),
        "version": gone.get("version"),
        "author": event.author.username if event.author else None,
        "action": event.action,
        "comment": "",
        "summary": event.get_action_display(),
        "note": event.note,
        "created_at": event.created_at,
        "before": before or None,
        "after": kept,
        "changes": snapshot_diff(before, kept) if before else {},
    }


def history_names_now(clip: Clip, history: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """The history in today's label names, for pages: each entry's before and after with the
    paths as written mapped to their labels' paths today (a deleted label keeps its path),
    and its changes diffed on those (the same labels submitted again after a rename are no
    change), plus a note per path that differs from what was written ({"birds/european
    robin": "was birds/robin", "birds/crow": "deleted since"}). An old path a lead has since
    given to another label on purpose is read as that label (the tree today wins)."""
    from ontology.services import label_paths_in, paths_today

    paths: set[str] = set()
    for entry in history:
        for snap in (entry["before"], entry["after"]):
            paths.update(label_paths_in(snap))
    now = paths_today(ontology=clip.project.ontology, paths=sorted(paths))
    changed = {path: current for path, current in now.items() if current != path}
    if not changed:
        return history, {}

    def named(path):
        return changed.get(path) or path if isinstance(path, str) else path

    def renamed(snap: dict | None) -> dict | None:
        if not snap:
            return snap
        out = dict(snap)
        out["clip_labels"] = list(dict.fromkeys(named(p) for p in snap.get("clip_labels") or []))
        out["segments"] = [
            {**seg, "labels": list(dict.fromkeys(named(p) for p in seg.get("labels") or []))}
            if isinstance(seg, dict)
            else seg
            for seg in snap.get("segments") or []
        ]
        return out

    entries = []
    for entry in history:
        if entry.get("kind") == "clip" and not entry.get("before"):  # names no label
            entries.append(entry)
            continue
        before, after = renamed(entry["before"]), renamed(entry["after"])
        entries.append(
            {**entry, "before": before, "after": after, "changes": snapshot_diff(before, after)}
        )
    was: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for old, current in sorted(changed.items()):
        if current is None:
            notes[old] = "deleted since"
        else:
            was.setdefault(current, []).append(old)
    notes.update({current: "was " + ", ".join(olds) for current, olds in was.items()})
    return entries, notes
