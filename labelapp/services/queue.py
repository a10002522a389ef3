"""The labeling queue: which clip an annotator gets next, locked to them for a while.

A clip may be held by at most `annotations_per_clip - annotation_count` annotators at once
(its submitted annotations plus its live locks, and its rejected annotations awaiting their
annotators' fixes, never exceed what the project wants). The
claim is race-free: on PostgreSQL the candidate row is taken with `FOR UPDATE SKIP LOCKED`
and the room left on it is counted again *under that row lock* before the lock row is
written, so two claimers never both take the last place on a clip (the second either skips
the locked row or, once it gets it, counts the first one's lock and moves on). On SQLite
the settings open every transaction with `BEGIN IMMEDIATE`, which serialises writers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labelapp.errors import Conflict
from labelapp.models import (
    Annotation,
    AnnotationDraft,
    Clip,
    ClipAssignment,
    Membership,
    Project,
)

# Candidates tried when a claim loses a race (another annotator took the last place first).
CLAIM_ATTEMPTS = 8
# What takes a clip out of an annotator's queue for good.
_DONE = [
    Annotation.Status.SUBMITTED,
    Annotation.Status.ACCEPTED,
    Annotation.Status.REJECTED,
    Annotation.Status.SKIPPED,
]


def lock_seconds(project: Project) -> int:
    return int(project.lock_seconds or settings.EARMARK_LOCK_SECONDS)


def _count(qs):
    return Coalesce(
        Subquery(
            qs.order_by().values("clip").annotate(n=Count("id")).values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _held_by_others(project: Project, user, now):
    """The places on a clip that others hold without a counted annotation: their live locks,
    and their rejected annotations (the annotator is to fix it: a new annotator taking the
    place meanwhile made the clip one annotation too many once the fix came), unless its
    annotator holds a lock too (counted once) or has left the project."""
    live = ClipAssignment.objects.filter(expires_at__gt=now)
    locks = live.filter(clip=OuterRef("pk")).exclude(user=user)
    rejected = (
        Annotation.objects.filter(clip=OuterRef("pk"), status=Annotation.Status.REJECTED)
        .exclude(annotator=user)
        .filter(
            Exists(Membership.objects.filter(project_id=project.pk, user=OuterRef("annotator")))
        )
        .exclude(Exists(live.filter(clip=OuterRef("clip"), user=OuterRef("annotator"))))
    )
    return _count(locks) + _count(rejected)


def _wanting(wanted: int) -> dict:
    """Clips still wanting annotations. With one wanted (the common case) an equality on
    annotation_count lets clip_queue_idx (project, status, annotation_count, -priority, id)
    hand rows out in queue order with no sort; a range would sort every candidate."""
    return {"annotation_count": 0} if wanted == 1 else {"annotation_count__lt": wanted}


def clips_available_to(project: Project, user, now):
    """Ready clips that still want annotations, that `user` has not annotated (or skipped),
    with a free place once the live locks of others are counted; queue order: the active
    learning ranker's priority (all 0 before a model exists), then import order."""
    wanted = project.annotations_per_clip
    mine = Annotation.objects.filter(clip=OuterRef("pk"), annotator=user).exclude(
        status=Annotation.Status.DRAFT
    )
    return (
        Clip.objects.filter(project=project, status=Clip.Status.READY, **_wanting(wanted))
        .exclude(Exists(mine))
        .alias(locks=_held_by_others(project, user, now))
        .filter(locks__lt=wanted - F("annotation_count"))
        .order_by("-priority", "id")
    )


def _full_for(clip: Clip, project: Project, user, now) -> bool:
    """Whether the clip's places are all taken without `user` (fresh reads): its counted
    annotations and what others hold."""
    done, taken = (
        Clip.objects.filter(pk=clip.pk)
        .annotate(locks=_held_by_others(project, user, now))
        .values_list("annotation_count", "locks")
        .get()
    )
    return done + taken >= project.annotations_per_clip


def _claim_under_lock(clip: Clip, project: Project, user, now) -> datetime | None:
    """With the clip row locked: count the room again (fresh reads) and take a place; the
    new lock's end, or None when the clip is full."""
    if _full_for(clip, project, user, now):
        return None
    # No live lock of ours on this clip (the held-lock probe would have returned it), but an
    # expired one may be left: one upsert on the (clip, user) constraint takes its place,
    # instead of a delete and an insert. Expired locks of others count for nothing.
    lock = ClipAssignment(
        clip=clip,
        user=user,
        project=project,
        expires_at=now + timedelta(seconds=lock_seconds(project)),
    )
    ClipAssignment.objects.bulk_create(
        [lock],
        update_conflicts=True,
        unique_fields=["clip", "user"],
        update_fields=["expires_at", "created_at"],
    )
    return lock.expires_at


@transaction.atomic
def clip_next_claim(*, project: Project, user, now=None) -> Clip | None:
    """The clip `user` should label next, locked to them; None when nothing is left.

    A clip they already hold (a reload, a second tab) comes back first, its lock renewed.
    The clip carries `lock_expires_at`, its lock's new end (the workspace shows it); a newly
    claimed one also `work_of` = (user id, has an annotation of theirs, has a draft of
    theirs), read with it, so the workspace asks only for what exists."""
    now = now or timezone.now()
    finished = Annotation.objects.filter(clip=OuterRef("clip"), annotator=user, status__in=_DONE)
    held = (
        ClipAssignment.objects.filter(project=project, user=user, expires_at__gt=now)
        .exclude(Exists(finished))
        .select_related("clip")
        .order_by("created_at")
        .first()
    )
    if held is not None:
        held.expires_at = now + timedelta(seconds=lock_seconds(project))
        held.save(update_fields=["expires_at"])
        held.clip.project = project  # the workspace reads it: no query to load it again
        held.clip.lock_expires_at = held.expires_at
        return held.clip
    tried: list[int] = []
    mine = Annotation.objects.filter(clip=OuterRef("pk"), annotator=user)
    drafted = AnnotationDraft.objects.filter(clip=OuterRef("pk"), user=user)
    for _ in range(CLAIM_ATTEMPTS):
        qs = (
            clips_available_to(project, user, now)
            .exclude(pk__in=tried)
            .annotate(has_annotation=Exists(mine), has_draft=Exists(drafted))
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        clip = qs.first()
        if clip is None:
            return None
        expires_at = _claim_under_lock(clip, project, user, now)
        if expires_at is not None:
            clip.project = project
            clip.lock_expires_at = expires_at
            clip.work_of = (user.pk, clip.has_annotation, clip.has_draft)
            return clip
        tried.append(clip.pk)
    return None


def clip_lock_release(*, clip: Clip, user) -> None:
    ClipAssignment.objects.filter(clip=clip, user=user).delete()


def clip_lock_renew(*, clip: Clip, user, now=None) -> ClipAssignment | None:
    """Autosaves call this: an annotator at work keeps their clip."""
    now = now or timezone.now()
    expires = now + timedelta(seconds=lock_seconds(clip.project))
    updated = ClipAssignment.objects.filter(clip=clip, user=user, expires_at__gt=now).update(
        expires_at=expires
    )
    return ClipAssignment.objects.filter(clip=clip, user=user).first() if updated else None


@transaction.atomic
def clip_lock_keep(*, clip: Clip, user, take: bool = True, now=None) -> dict:
    """The workspace's heartbeat while an annotator works on a clip (every minute or two, and
    only while they are active): their lock is renewed, or taken again where it lapsed (or
    was never taken: a clip opened by its address) and the clip has room. A clip that has
    every annotation it wants is `full`: another annotator took the place while the page
    sat idle, or the clip was full when opened; a submission still saves, one annotation
    more than the project asks, and the workspace says so first. An annotator who already
    has an annotation of the clip (a fix, an edit) needs no place. Without `take` a lapsed or
    missing place is not taken, only said (`full` or not): a lead or reviewer who opens clips
    in the workspace to look took a place on each for the lock time."""
    now = now or timezone.now()
    project = clip.project
    wanted = project.annotations_per_clip
    answer = {
        "held": False,
        "needed": True,
        "full": False,
        "wanted": wanted,
        "annotations": clip.annotation_count,
        "expires_at": None,
    }
    # A skip is no work that holds a place: a clip skipped, then opened again, took none and
    # ended with one annotation too many.
    if (
        Annotation.objects.filter(clip=clip, annotator=user)
        .exclude(status__in=[Annotation.Status.DRAFT, Annotation.Status.SKIPPED])
        .exists()
    ):
        return {**answer, "needed": False}
    expires = now + timedelta(seconds=lock_seconds(project))
    if ClipAssignment.objects.filter(clip=clip, user=user, expires_at__gt=now).update(
        expires_at=expires
    ):
        return {**answer, "held": True, "expires_at": expires}
    if not take:
        return {**answer, "full": _full_for(clip, project, user, now)}
    # Under the clip's row lock, as a claim: two heartbeats never both take its last place.
    locked = Clip.objects.select_for_update().filter(pk=clip.pk).first()
    expires_at = locked and _claim_under_lock(locked, project, user, now)
    if expires_at is None:
        return {**answer, "full": True}
    _held_over_limit_release(project, user, now, keep=clip.pk)
    return {**answer, "held": True, "expires_at": expires_at}


def clip_room_or_conflict(*, clip: Clip, user, now=None) -> None:
    """For a submission saved only where it is wanted (the workspace's): a 409 `clip_full`
    when the clip has every annotation the project wants without `user`'s. Their place
    lapsed while the page sat idle (or a lead released it) and others took the clip; the
    heartbeat said so once a minute at most, so a Submit right after the idle spell made one
    annotation more without a word (a tester's clips ended with 3 of 2). Their own earlier
    annotation (an edit) or a place they hold always saves."""
    now = now or timezone.now()
    project = clip.project
    if (
        Annotation.objects.filter(clip=clip, annotator=user)
        .exclude(status__in=[Annotation.Status.DRAFT, Annotation.Status.SKIPPED])
        .exists()
        or ClipAssignment.objects.filter(clip=clip, user=user, expires_at__gt=now).exists()
        or not _full_for(clip, project, user, now)
    ):
        return
    wanted = project.annotations_per_clip
    done = Clip.objects.filter(pk=clip.pk).values_list("annotation_count", flat=True).get()
    if done >= wanted:
        wants = "the annotation" if wanted == 1 else f"the {wanted} annotations"
        why = f"this clip has {wants} the project wants without yours"
    else:  # places held by others at work on it, not annotations (yet)
        why = f"other annotators hold this clip's places ({wanted} wanted, {done} done)"
    raise Conflict(
        f"not saved: {why}, and you hold no place on it (yours lapsed or was released, or "
        "you opened it by its address); skip it for a clip that needs you, or save yours as "
        "one more",
        code="clip_full",
        extra={"wanted": wanted, "annotations": done},
    )


def _held_over_limit_release(project: Project, user, now, *, keep: int) -> int:
    """At most EARMARK_MAX_HELD_CLIPS live places of `user` in `project`: past it the oldest
    go back to the queue (a member sending a lock for each of 305 clips held 301 of them and
    everyone else's queue said "nothing left")."""
    limit = max(1, settings.EARMARK_MAX_HELD_CLIPS)
    live = ClipAssignment.objects.filter(project=project, user=user, expires_at__gt=now)
    # Renewed last, kept first: the clip at work is renewed by its heartbeat (`created_at`
    # is when a place was taken, and let the working clip go first).
    newest = list(
        live.exclude(clip_id=keep).order_by("-expires_at", "-id").values_list("pk", flat=True)
    )
    if len(newest) < limit:
        return 0
    # at most the limit and the few taken since: a short list of ids
    return ClipAssignment.objects.filter(pk__in=newest[limit - 1 :]).delete()[0]


def held_counts(project: Project, now=None) -> dict[int, int]:
    """Live places per user in `project` (the members page shows them)."""
    now = now or timezone.now()
    return dict(
        ClipAssignment.objects.filter(project=project, expires_at__gt=now)
        .values_list("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )


def held_release(*, project: Project, user) -> int:
    """A lead gives a member's held clips back to the queue (an annotator who left for the
    day holding some, or one taking more than their share): how many went. Their drafts stay."""
    return ClipAssignment.objects.filter(project=project, user=user).delete()[0]
