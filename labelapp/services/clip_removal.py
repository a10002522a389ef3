"""Removing clips from a project: a lead's cleanup of bad imports and wrong files.

A clip that holds someone's work (annotations other than skips, a draft, a live lock of an
annotator labeling it now) is only removed when the lead says so (`force`): nothing a person
did disappears without a decision. The rows go in one transaction (annotations with their
history, predictions, drafts and locks cascade); the stored original and peaks files are
deleted after the commit, by a worker (`media_delete`), or here when the broker is down.
The features cache is content-addressed and may be shared by other projects, so it stays.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from labelapp.errors import Conflict, DomainError
from labelapp.models import Annotation, AnnotationDraft, Clip, ClipAssignment, Project

logger = logging.getLogger(__name__)

MAX_CLIPS = 5000  # per request: the rows go in one transaction
MEDIA_BATCH = 500  # storage names per worker message


@dataclass
class Removal:
    deleted: list[int] = field(default_factory=list)
    # {"id", "name", "code", "reason"} per clip left in place
    refused: list[dict] = field(default_factory=list)
    # More clips match than one call takes: call again with after=last_id.
    more: bool = False
    last_id: int = 0


def _work_held(clip_ids: list[int]) -> dict[int, str]:
    """Why each clip would take someone's work with it, for the clips that would."""
    annotations = Counter(
        Annotation.objects.filter(clip_id__in=clip_ids)
        .exclude(status=Annotation.Status.SKIPPED)
        .values_list("clip_id", flat=True)
    )
    drafts = Counter(
        AnnotationDraft.objects.filter(clip_id__in=clip_ids).values_list("clip_id", flat=True)
    )
    locks = Counter(
        ClipAssignment.objects.filter(
            clip_id__in=clip_ids, expires_at__gt=timezone.now()
        ).values_list("clip_id", flat=True)
    )
    reasons = {}
    for clip_id in clip_ids:
        parts = []
        if n := annotations[clip_id]:
            parts.append(f"{n} annotation{'s' if n > 1 else ''}")
        if n := drafts[clip_id]:
            parts.append(f"{n} unsaved draft{'s' if n > 1 else ''}")
        if n := locks[clip_id]:
            parts.append(f"being labeled by {n} annotator{'s' if n > 1 else ''} now")
        if parts:
            reasons[clip_id] = ", ".join(parts)
    return reasons


def clips_delete(
    *,
    project: Project,
    ids: Iterable[int] | None = None,
    status: str | None = None,
    force: bool = False,
    after: int = 0,
) -> Removal:
    """Delete the project's clips named by `ids` and/or in `status`. Clips holding someone's
    work are refused (reported, left in place) unless `force`; ids that are not clips of
    this project are reported as not found. At most MAX_CLIPS clips per call, in id order
    from `after`: when more match, `more` is set and the next call starts after `last_id`."""
    if ids is None and not status:
        raise DomainError("name the clips to delete: ids, a status, or both")
    if status and status not in Clip.Status.values:
        raise DomainError(f"unknown status {status!r}; one of {', '.join(Clip.Status.values)}")
    wanted = None if ids is None else list(dict.fromkeys(int(i) for i in ids))
    if wanted is not None and len(wanted) > MAX_CLIPS:
        raise DomainError(f"at most {MAX_CLIPS} clips per request ({len(wanted)} named)")
    removal = Removal()
    with transaction.atomic():
        qs = Clip.objects.filter(project=project, pk__gt=after)
        if wanted is not None:
            qs = qs.filter(pk__in=wanted)
        if status:
            qs = qs.filter(status=status)
        rows = list(
            qs.select_for_update()
            .order_by("id")
            .values_list("id", "original_name", "file", "peaks_file", "spectrum_file")[
                : MAX_CLIPS + 1
            ]
        )
        removal.more = len(rows) > MAX_CLIPS
        rows = rows[:MAX_CLIPS]
        removal.last_id = rows[-1][0] if rows else after
        found = {r[0] for r in rows}
        for clip_id in wanted or ():
            if clip_id not in found and clip_id > after:
                removal.refused.append(
                    {
                        "id": clip_id,
                        "name": "",
                        "code": "not_found",
                        "reason": "no such clip in this project"
                        + (f" with status {status}" if status else ""),
                    }
                )
        held = {} if force else _work_held(sorted(found))
        names = []
        for clip_id, name, file_name, peaks_name, spectrum_name in rows:
            if clip_id in held:
                removal.refused.append(
                    {
                        "id": clip_id,
                        "name": name,
                        "code": "has_work",
                        "reason": f"{held[clip_id]}; delete with force to remove it",
                    }
                )
                continue
            removal.deleted.append(clip_id)
            names.extend(n for n in (file_name, peaks_name, spectrum_name) if n)
        if removal.deleted:
            Clip.objects.filter(pk__in=removal.deleted).delete()
            transaction.on_commit(lambda: media_delete_later(names=names), robust=True)
            logger.info(
                "project %s: %d clips deleted%s",
                project.pk,
                len(removal.deleted),
                " (forced)" if force else "",
            )
    return removal


def clip_delete(*, clip: Clip, force: bool = False) -> None:
    """Delete one clip; 409 naming what it holds when that is someone's work and not forced."""
    removal = clips_delete(project=clip.project, ids=[clip.pk], force=force)
    if not removal.deleted:
        refused = removal.refused[0]
        if refused["code"] == "not_found":  # deleted meanwhile
            return
        raise Conflict(
            f"clip {clip.original_name!r} holds {refused['reason']}",
            code="clip_has_work",
        )


def media_delete(*, names: list[str], checked: bool = True) -> int:
    """Delete stored files no clip refers to; a file already gone is fine (idempotent).
    A clip still naming a file keeps it (a safeguard: each import stores its own original).
    `checked=False` skips that check (a purge deletes the files before their rows).
    Returns how many it asked the store to delete (one already gone counts too)."""
    held = set()
    if checked:
        held = set(Clip.objects.filter(file__in=names).values_list("file", flat=True))
        held |= set(Clip.objects.filter(peaks_file__in=names).values_list("peaks_file", flat=True))
        held |= set(
            Clip.objects.filter(spectrum_file__in=names).values_list("spectrum_file", flat=True)
        )
    from labelapp.media import MediaUnavailable, local_store_gone

    if local_store_gone():
        # Every file "already gone": the folder is away, and they would stay for good once
        # it is back. The worker's task tries again later.
        raise MediaUnavailable("the media folder is not there")
    deleted = 0
    for name in names:
        if name in held:
            continue
        try:
            default_storage.delete(name)
            deleted += 1
        except FileNotFoundError:
            pass
        except (OSError, NotImplementedError) as exc:
            logger.warning("could not delete %s from the media store: %s", name, exc)
    return deleted


def media_delete_later(*, names: list[str]) -> None:
    """Hand the files to a worker in batches; delete them here when the broker refuses."""
    from labelapp.queueing import enqueue
    from labelapp.tasks import media_delete as task

    for i in range(0, len(names), MEDIA_BATCH):
        batch = names[i : i + MEDIA_BATCH]
        if not enqueue(task, batch):
            try:
                media_delete(names=batch)
            except OSError as exc:  # the store away too: the files stay, said in the log
                logger.warning("could not delete %d files now: %s", len(batch), exc)
