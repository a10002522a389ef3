"""Getting audio in: one file at a time, each in its own transaction, reported per file.

A file is hashed and probed (header plus a decode of its first and last blocks) before any
row exists; the original is stored untouched under its content hash plus a token of its
own; the Clip row, the stored file and any imported labels commit together or not at all.
Heavy work (peaks) is enqueued for the worker once the row has committed.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import logging
import secrets
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from labelapp.audio import AudioError, AudioInfo, probe
from labelapp.errors import Conflict, DomainError, NotFound
from labelapp.media import CLIPS_DIR, STORE_ERRORS, store_error_reason, store_unavailable
from labelapp.models import Annotation, Clip, ImportJob, Membership, Project
from labelapp.services.annotations import (
    annotation_input_build,
    annotation_input_changes,
    annotation_save,
    clip_row_lock,
)
from labelapp.services.projects import system_user
from ontology.models import Label

logger = logging.getLogger(__name__)

# What a folder import takes: every container the decoder reads (a file of another name is
# still tried when named on its own). Opus, AIFF, CAF, W64 and AU imported by name and were
# passed over in a folder without a word.
AUDIO_EXTENSIONS = {
    ".wav", ".wave", ".rf64", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".aifc", ".caf", ".au", ".snd",
}  # fmt: skip
_FORMAT_EXTENSION = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}
_HASH_BLOCK = 1024 * 1024  # bytes
JOB_SAVE_EVERY = 10  # files between progress writes of a job row
JOB_SAVE_EVERY_S = 30.0  # ... or seconds, whichever comes first (big files, a slow store)
# What recording a file's outcome changes on its job (import_job_record, import_job_add).
JOB_PROGRESS_FIELDS = [
    "processed",
    "imported",
    "duplicates",
    "rejected",
    "report",
    "total",
    "updated_at",
]
ENQUEUE_BATCH = 25  # clips per processing message: fewer, fuller messages for big batches
# A running import writes progress every JOB_SAVE_EVERY files; this long without means its
# process is gone. Files already imported stay; importing the same paths again skips them.
IMPORT_STALE_AFTER = timedelta(minutes=30)
IMPORT_AGAIN = "import the same files again: those already imported count as duplicates"
INTERRUPTED = "interrupted after {done} of {total} files; " + IMPORT_AGAIN
STALE = "stopped: no progress for {minutes} minutes (its process was killed?); " + IMPORT_AGAIN
# A browser upload's job spans one request per file, and a slow link may take long over one
# file; a day without a file means the page was closed before its files were sent.
UPLOAD_ABANDONED_AFTER = timedelta(hours=24)
ABANDONED = (
    "abandoned: {done} of {total} files arrived, then none for {hours} hours; upload the rest"
)


@dataclass
class FileOutcome:
    name: str
    status: str  # imported | duplicate | rejected; labeled, unchanged, suggested (label_imports)
    clip_id: int | None = None
    error: str = ""
    # The media store did not answer: the files after it in a batch are not tried.
    store_unavailable: bool = field(default=False, repr=False, compare=False)

    def as_dict(self) -> dict:
        body = asdict(self)
        if not body.pop("store_unavailable"):
            return body
        return {**body, "code": "media_unavailable"}


@dataclass
class ImportItem:
    """One file to import, with any labels a manifest gave it."""

    name: str
    path: Path | None = None
    fileobj: BinaryIO | None = None
    clip_labels: list[str] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    error: str = ""  # a problem found while reading the manifest
    # Annotations the manifest attributes to someone: {"username" or "email", "status",
    # "clip_labels", "segments"}. A member of the project keeps theirs; the rest are merged
    # into the system user's annotation like `clip_labels` and `segments` above.
    annotations: list[dict] = field(default_factory=list)
    # A labels file's recording already in the project (label_imports): its labels go onto
    # this clip; no audio is read.
    clip: Clip | None = None
    # A clip label's score where the file gives one (a segment's is its "score"): read when
    # the file is imported as a model's suggestions.
    clip_scores: dict[str, float] = field(default_factory=dict)

    def every_clip_label(self) -> list[str]:
        """Its clip labels and those of every annotation it names, in the file's order."""
        return [*self.clip_labels, *(lb for e in self.annotations for lb in e["clip_labels"])]

    def every_segment(self) -> list[dict]:
        """Its segments and those of every annotation it names (the dicts themselves)."""
        return [*self.segments, *(s for e in self.annotations for s in e["segments"])]

    def clip_labels_scored(self, names: list[str], score: float) -> None:
        """`score` for each of these clip labels, or the best the file gave it already."""
        for name in names:
            self.clip_scores[name] = max(score, self.clip_scores.get(name, score))


# Characters that make a name show other than it is ("\u202egnp.wav" shows as "vaw.png"):
# direction overrides and isolates, zero-width space and no-break space. The joiners (U+200C,
# U+200D) stay: Persian, Indic scripts and emoji need them.
INVISIBLE_IN_NAMES = frozenset("\u200b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def original_name_error(name: str) -> str:
    """Why a file name is refused, or '' when it is fine."""
    if not name or not name.strip():
        return "file name is empty"
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in name) or "\ufffd" in name:
        return "file name is not valid UTF-8"
    if "/" in name or "\\" in name:
        return "file name must not contain slashes"
    if ".." in name or name == ".":
        return "file name must not contain '..'"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "file name contains control characters"
    hidden = next((c for c in name if c in INVISIBLE_IN_NAMES), None)
    if hidden is not None:
        what = unicodedata.name(hidden, "a format character")
        return (
            f"file name contains U+{ord(hidden):04X} ({what}), which hides or reorders what "
            "the name shows"
        )
    if len(name) > 255:
        return "file name is longer than 255 characters"
    return ""


def _hash_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _stage(fileobj: BinaryIO, limit: int) -> Path:
    """Copy an uploaded stream to a temporary file, refusing it past `limit` bytes."""
    tmp = tempfile.NamedTemporaryFile(prefix="earmark-upload-", delete=False)  # noqa: SIM115
    written = 0
    try:
        with tmp:
            if hasattr(fileobj, "seek"):
                fileobj.seek(0)
            while block := fileobj.read(_HASH_BLOCK):
                written += len(block)
                if written > limit:
                    raise DomainError(f"file is larger than the limit of {_human(limit)}")
                tmp.write(block)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    return Path(tmp.name)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def storage_name_for(project_id: int, sha256: str, fmt: str) -> str:
    """Where an import stores its original: under the project and the content hash, with a
    token of its own, so no two imports share a file. A clip deleted while the same file is
    imported again then takes only its own file with it (its deletion runs after commit)."""
    ext = _FORMAT_EXTENSION.get(fmt.upper(), "bin")
    return f"{CLIPS_DIR}/{project_id}/{sha256[:2]}/{sha256}-{secrets.token_hex(4)}.{ext}"


def clip_import(
    *,
    project: Project,
    item: ImportItem,
    job: ImportJob | None = None,
    on_committed: Callable[[int], None] | None = None,
    create_labels: bool = True,
) -> FileOutcome:
    """Import one file. Never raises for bad input: the outcome says what happened.

    Once the clip's row has committed, `on_committed(clip_id)` runs (default: send the clip
    to the worker); batch imports pass a collector that sends clips in batches. Labels the
    item names that the project lacks are created when `create_labels`, else the file is
    rejected naming the first."""
    name = item.name
    if item.error:
        return FileOutcome(name, "rejected", error=item.error)
    if error := original_name_error(name):
        return FileOutcome(name, "rejected", error=error)
    staged: Path | None = None
    try:
        if item.path is not None:
            path = Path(item.path)
            if not path.is_file():
                return FileOutcome(name, "rejected", error=f"file not found: {path}")
            size = path.stat().st_size
            if size > settings.EARMARK_MAX_UPLOAD_BYTES:
                return FileOutcome(
                    name,
                    "rejected",
                    error="file is larger than the limit of "
                    f"{_human(settings.EARMARK_MAX_UPLOAD_BYTES)}",
                )
        else:
            staged = path = _stage(item.fileobj, settings.EARMARK_MAX_UPLOAD_BYTES)
        sha256, size = _hash_and_size(path)
        if size == 0:
            return FileOutcome(name, "rejected", error="file is empty")
        info = probe(path, max_duration_s=settings.EARMARK_MAX_DURATION_S)
        store = functools.partial(
            _store,
            project=project,
            item=item,
            job=job,
            path=path,
            sha256=sha256,
            size=size,
            info=info,
            on_committed=on_committed or (lambda clip_id: clips_enqueue_processing([clip_id])),
            create_labels=create_labels,
        )
        try:
            return store()
        except _TwinGone:
            return store()  # the clip it duplicated was deleted meanwhile: it is new again
    except _TwinGone:
        return FileOutcome(
            name, "rejected", error="the project changed as this file was stored: import it again"
        )
    except AudioError as exc:
        return FileOutcome(name, "rejected", error=str(exc))
    except DomainError as exc:
        return FileOutcome(name, "rejected", error=exc.message)
    except STORE_ERRORS as exc:
        logger.warning("import of %s failed: %s", name, exc)
        return FileOutcome(
            name,
            "rejected",
            error=f"could not read or store the file: {store_error_reason(exc)}",
            store_unavailable=store_unavailable(exc),
        )
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)


def clip_imports(items: Iterable[ImportItem], **kwargs) -> Iterator[FileOutcome]:
    """`clip_import` of each item in turn (`kwargs` its other arguments); after a file the
    media store did not answer for, the rest are not tried (`store_unavailable_outcome`)."""
    down = False
    for item in items:
        outcome = store_unavailable_outcome(item.name) if down else clip_import(item=item, **kwargs)
        down = down or outcome.store_unavailable
        yield outcome


STORE_UNAVAILABLE_REST = (
    "not tried: the media store was not answering for an earlier file of this batch; "
    "send it again in a minute"
)


def store_unavailable_outcome(name: str) -> FileOutcome:
    """A file of a batch after one the media store did not answer for: each would wait out the
    store's timeouts again (a minute a file), holding the request and a web thread."""
    return FileOutcome(name, "rejected", error=STORE_UNAVAILABLE_REST, store_unavailable=True)


# An annotation by someone who is not a member is merged into the system user's, which
# counts as submitted work: one a reviewer rejected, a skip or an unsent draft is left out
# (its labels would become training labels).
NOT_MERGED = (Annotation.Status.SKIPPED, Annotation.Status.REJECTED, Annotation.Status.DRAFT)


def _annotations_by_member(project: Project, item: ImportItem) -> tuple[list, list, list, str]:
    """(the item's annotations that name a member of the project, as (user, entry) with one
    entry per member; the clip labels and segments the system user's annotation gets: the
    item's own plus those of annotations naming nobody known here, skips, rejections and
    drafts left out; and what the file's report says of them). In a single-label project
    non-members who chose different clip labels are not merged into two (the file was
    rejected: "choose one clip label", of labels its lead never chose): the majority's label
    is kept, or with no majority none, and the report says so."""
    from django.contrib.auth import get_user_model

    clip_labels, segments = list(item.clip_labels), list(item.segments)
    members = get_user_model().objects.filter(memberships__project=project)
    own: dict[int, tuple] = {}
    others: list[list[str]] = []
    twice: list[str] = []  # members with two annotations of the file: the last one is kept
    for entry in item.annotations:
        user = None
        if entry.get("username"):
            user = members.filter(username=entry["username"]).first()
        if user is None and entry.get("email"):
            user = members.filter(email__iexact=entry["email"]).first()
        if user is not None:
            if user.pk in own:
                twice.append(user.get_username())
            own[user.pk] = (user, entry)
        elif entry.get("status") not in NOT_MERGED:
            others.append(list(entry["clip_labels"]))
            segments.extend(entry["segments"])
    note = ""

    def label_of(name: str) -> str:
        # A vote per label, not per spelling ("rain", "Rain" and "weather/rain" are one).
        from ontology.services import label_resolve

        try:
            return label_resolve(ontology=project.ontology, ref=name).path
        except DomainError:
            return name

    chosen = Counter(
        tuple(dict.fromkeys(label_of(lb) for lb in labels)) for labels in others if labels
    )
    if project.label_mode == Project.LabelMode.SINGLE and not clip_labels and len(chosen) > 1:
        (top, votes), (_, runner_up) = chosen.most_common(2)
        said = ", ".join(f"{' + '.join(k)} ×{n}" for k, n in chosen.most_common())
        if votes > runner_up:
            clip_labels = list(top)
            kept = f"the majority's {' + '.join(top)} is kept"
        else:
            kept = "the clip is imported without their clip label"
        note = (
            f"annotators who are not members of this project disagree ({said}): {kept}; "
            "add them as members (same username or email) and import again to keep each "
            "one's annotation"
        )
    else:
        for labels in others:
            clip_labels.extend(lb for lb in labels if lb not in clip_labels)
    if twice:  # the first one went without a word
        said = (
            f"the file holds two annotations or more by {', '.join(sorted(set(twice)))}: "
            "the last one is kept"
        )
        note = f"{note}; {said}" if note else said
    return list(own.values()), clip_labels, segments, note


def _save_imported(
    clip: Clip, data, members_data: list, *, again: bool, replace_clip_label: bool = False
) -> tuple[str, bool]:
    """The file's labels (merged into the system user's annotation) and its members'
    annotations. `again` (a file imported before): a member's annotation of the clip is
    never overwritten by an import, whatever they have done on it since, nor a reviewed one
    of the system user's (an accept, a reject or a correction would be undone: the merge
    sets it back to submitted). With `replace_clip_label` (a single-label project's labels
    file), the file's clip label takes the place of the one an earlier import gave, where a
    merge would hold two. Answers (what was left as it was or replaced, for the file's
    report; whether any annotation's labels changed)."""
    kept = ""
    changed = False
    if data is not None:
        mine = (
            Annotation.objects.filter(clip=clip, annotator=system_user()).first() if again else None
        )
        reviewed = mine is not None and (
            mine.reviewed_at is not None or mine.status != Annotation.Status.SUBMITTED
        )
        if reviewed:
            kept = "its reviewed annotation is left as the reviewer made it"
        else:
            if replace_clip_label and mine is not None and data.clip_labels:
                old = [
                    cl.label
                    for cl in mine.clip_labels.select_related("label")
                    if cl.label not in data.clip_labels
                ]
                if old:
                    mine.clip_labels.filter(label__in=old).delete()
                    new = ", ".join(lb.path for lb in data.clip_labels)
                    kept = f"its clip label {', '.join(lb.path for lb in old)} is now {new}"
            saved = annotation_save(
                clip=clip,
                user=system_user(),
                data=data,
                merge=True,
                source=Annotation.Source.IMPORTED,
            )
            changed = bool(getattr(saved, "labels_changed", False)) or bool(kept)
    differ = []
    for user, entry, member_data in members_data:
        mine = Annotation.objects.filter(clip=clip, annotator=user).first() if again else None
        if mine is not None:
            if annotation_input_changes(mine, member_data):
                differ.append(user.get_username())
            continue
        saved = annotation_save(
            clip=clip,
            user=user,
            data=member_data,
            status=entry["status"],
            source=Annotation.Source.IMPORTED,
            lead_time=entry.get("lead_time", 0.0),
        )
        changed = True
        _review_carried(clip, saved, entry)
    if differ:
        # The file's other version of a member's work was dropped without a word.
        whose = (
            f"{differ[0]}'s annotation here differs"
            if len(differ) == 1
            else f"the annotations of {', '.join(differ[:-1])} and {differ[-1]} here differ"
        )
        said = (
            f"{whose} from the file's and {'is' if len(differ) == 1 else 'are'} left as "
            f"{'it is' if len(differ) == 1 else 'they are'} (an import never overwrites a "
            "member's annotation)"
        )
        kept = f"{kept}; {said}" if kept else said
    return kept, changed


def _review_carried(clip: Clip, annotation: Annotation, entry: dict) -> None:
    """An accepted or rejected annotation's review as the file says it (an Earmark export):
    the reviewer, when a reviewer or a lead here and not its annotator, the rejection's
    reason and when (they came back reviewed by nobody, a rejection with no reason)."""
    from django.contrib.auth import get_user_model
    from django.utils.dateparse import parse_datetime

    review = entry.get("review") or {}
    if annotation.status not in (Annotation.Status.ACCEPTED, Annotation.Status.REJECTED):
        return
    if not review:
        return
    reviewer = None
    if review.get("reviewed_by") and review["reviewed_by"] != annotation.annotator.username:
        # A reviewer or a lead here, never the annotation's own annotator: nobody reviews
        # their own work, and an import said so of an annotator.
        reviewer = (
            get_user_model()
            .objects.filter(
                memberships__project_id=clip.project_id,
                memberships__role__in=(Membership.Role.REVIEWER, Membership.Role.LEAD),
            )
            .filter(username=review["reviewed_by"])
            .first()
        )
    try:
        when = parse_datetime(review.get("reviewed_at") or "")
        if when is not None and timezone.is_naive(when):
            when = timezone.make_aware(when, datetime.UTC)
        if when is not None:
            when.astimezone(datetime.UTC)  # one past the range a database keeps fails here
    except (ValueError, OverflowError):  # "2020-02-30", "9999-12-31T23:59:59-23:59"
        when = None
    Annotation.objects.filter(pk=annotation.pk).update(
        reviewed_by=reviewer,
        reviewed_at=when or timezone.now(),
        review_comment=str(review.get("review_comment") or "")[:10000],
    )


class _TwinGone(Exception):
    """The clip a file duplicates was deleted while the file was being imported (or a
    foreign key failed at commit for another row deleted meanwhile)."""


def _labels_built(project: Project, item: ImportItem, clip: Clip, create_labels: bool):
    """(the system user's annotation input or None, [(member, entry, their input)], what
    the file's report says of merged annotations) for the item's labels on `clip` (a clip
    not saved yet stands for a new file). Raises DomainError for a label or segment the
    project's rules refuse."""
    by_member, clip_labels, segments, merged_note = _annotations_by_member(project, item)

    def retired() -> set[int]:
        # Labels deprecated since the annotations were made (a project's own export, read
        # back) are history, not labels chosen anew: imported as they were.
        from ontology.tree import tree_get

        return set(tree_get(project.ontology).retired)

    data = None
    if clip_labels or segments:
        data = annotation_input_build(
            project,
            clip,
            clip_labels=clip_labels,
            segments=segments,
            create_labels=create_labels,
            kept_labels=retired,
        )
    members_data = [
        (
            user,
            entry,
            annotation_input_build(
                project,
                clip,
                clip_labels=entry["clip_labels"],
                segments=entry["segments"],
                create_labels=create_labels,
                kept_labels=retired,
            ),
        )
        for user, entry in by_member
    ]
    return data, members_data, merged_note


def labels_onto_clip(project: Project, item: ImportItem, *, create_labels: bool) -> FileOutcome:
    """A labels file's recording (`item.clip`, already in the project): its labels added as
    those of a file imported again are (`_save_imported`). The outcome is "labeled", or
    "rejected" saying why (a label the tree lacks, a segment past the clip's end, the clip
    deleted meanwhile)."""
    clip = item.clip
    try:
        with transaction.atomic():
            clip_row_lock(clip.pk)  # a lead's removal waits, or has taken it already
            data, members_data, merged_note = _labels_built(project, item, clip, create_labels)
            if data is None and not members_data:
                return FileOutcome(item.name, "rejected", clip.pk, "the file gives it no label")
            kept, changed = _save_imported(
                clip,
                data,
                members_data,
                again=True,
                replace_clip_label=project.label_mode == Project.LabelMode.SINGLE,
            )
    except NotFound:
        return FileOutcome(item.name, "rejected", clip.pk, "the clip was deleted meanwhile")
    except DomainError as exc:
        return FileOutcome(item.name, "rejected", clip.pk, exc.message)
    note = "; ".join(x for x in (merged_note, kept) if x)
    if not changed:  # all of it there already, or left as a reviewer or a member made it
        return FileOutcome(item.name, "unchanged", clip.pk, note or "it has these labels already")
    return FileOutcome(item.name, "labeled", clip.pk, note)


def _store(
    *, project, item, job, path, sha256, size, info: AudioInfo, on_committed, create_labels
) -> FileOutcome:
    existing = Clip.objects.filter(project=project, sha256=sha256).first()
    probe_clip = existing or Clip(
        project=project,
        duration=info.duration,
        channels=info.channels,
        sample_rate=info.sample_rate,
    )
    # Checked before any row exists: a bad one rejects the file, and the labels its rows named
    # go with it (they were created before the rules refused the row, and stayed).
    with transaction.atomic():
        data, members_data, merged_note = _labels_built(project, item, probe_clip, create_labels)
    if existing is not None:
        try:
            with transaction.atomic():
                # The twin's row lock: a lead's removal waits for this, or has already gone.
                clip_row_lock(existing.pk)
                kept, _ = _save_imported(existing, data, members_data, again=True)
                kept = "; ".join(x for x in (merged_note, kept) if x)
        except NotFound:  # a lead deleted the twin since it was looked up
            raise _TwinGone from None
        return FileOutcome(
            item.name,
            "duplicate",
            clip_id=existing.pk,
            error=f"same content as clip {existing.pk} ({existing.original_name})"
            + (f"; {kept}" if kept else ""),
        )
    # A name of this import's own: whatever goes wrong below, the file under it is deleted
    # (a write cut short by a full disk leaves a partial one).
    storage_name = storage_name_for(project.pk, sha256, info.format)
    try:
        # Stored before the transaction: on SQLite a transaction holds the database's write
        # lock from its start, and an upload to a slow or silent media store held it through
        # every timeout (the worker's writes failed "database is locked" meanwhile).
        with open(path, "rb") as fh:
            saved = default_storage.save(storage_name, File(fh))
        if saved != storage_name:  # storage renamed it: keep what it says
            storage_name = saved
        with transaction.atomic():
            clip = Clip.objects.create(
                project=project,
                file=storage_name,
                sha256=sha256,
                original_name=item.name,
                size_bytes=size,
                format=info.format,
                codec=info.codec,
                duration=info.duration,
                sample_rate=info.sample_rate,
                channels=info.channels,
                frames=info.frames,
                metadata=item.metadata,
                import_job=job,
            )
            _save_imported(clip, data, members_data, again=False)
            if item.predictions:
                from ml_backend.services import predictions_import

                predictions_import(clip=clip, predictions=item.predictions)
            transaction.on_commit(lambda: on_committed(clip.pk))
    except IntegrityError:
        default_storage.delete(storage_name)
        twin = Clip.objects.filter(project=project, sha256=sha256).first()
        if twin is None:  # it was there at the insert and deleted since (or another row
            raise _TwinGone from None  # went: the second attempt finds out which)
        return FileOutcome(
            item.name,
            "duplicate",
            clip_id=twin.pk,
            error=f"same content as clip {twin.pk} ({twin.original_name})",
        )
    except BaseException:
        with contextlib.suppress(OSError):
            default_storage.delete(storage_name)
        raise
    return FileOutcome(item.name, "imported", clip_id=clip.pk, error=merged_note)


def clips_enqueue_processing(clip_ids: list[int]) -> None:
    """Send clips to the worker. A broker outage only delays them: the sweep re-sends."""
    from labelapp.queueing import enqueue
    from labelapp.tasks import clips_process

    enqueue(clips_process, list(clip_ids))


def import_job_create(*, project: Project, user=None, source: str, total: int = 0) -> ImportJob:
    return ImportJob.objects.create(
        project=project,
        created_by=user,
        source=source,
        total=total,
        status=ImportJob.Status.RUNNING,
    )


def import_job_record(job: ImportJob, outcome: FileOutcome, *, save: bool = True) -> None:
    job.processed += 1
    if outcome.status in ("imported", "labeled", "suggested"):  # the last two: label_imports
        job.imported += 1
    elif outcome.status in ("duplicate", "unchanged"):  # the last: a labels file's clip
        job.duplicates += 1
    else:
        job.rejected += 1
    job.report.append(outcome.as_dict())
    job.total = max(job.total, job.processed)
    job.updated_at = timezone.now()
    if save:
        job.save(update_fields=JOB_PROGRESS_FIELDS)


def import_job_add(job: ImportJob, outcomes: list[FileOutcome]) -> ImportJob:
    """Record a request's outcomes on a job that other requests may be adding to at the same
    moment (the browser uploads a job's files a few at a time, one request each): under the
    job's row lock, so that no request's counts or report entries overwrite another's. The
    job is finished once it has an outcome for each of its announced files. Returns the job
    as saved."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        for outcome in outcomes:
            _not_sent_taken_back(locked, outcome.name)
            import_job_record(locked, outcome, save=False)
        locked.save(update_fields=JOB_PROGRESS_FIELDS)
        if locked.status == ImportJob.Status.RUNNING and locked.processed >= locked.total:
            import_job_finish(locked)
    return locked


NOT_SENT = ImportJob.NOT_SENT_PREFIX


def _not_sent_taken_back(job: ImportJob, name: str) -> None:
    """A file the browser gave up on (the page left as its bytes were all sent) whose upload
    lands after all: its "not sent" entry goes, so that it is counted once, as what it became
    (it was listed both ways, and the job grew by a file)."""
    for i, entry in enumerate(job.report or []):
        if (
            entry.get("name") == name
            and entry.get("status") == "rejected"
            and str(entry.get("error", "")).startswith(NOT_SENT)
        ):
            del job.report[i]
            job.rejected -= 1
            job.processed -= 1
            return


def import_job_not_sent(job: ImportJob, files: list[dict]) -> ImportJob:
    """Files of a browser upload that never reached the server (the connection dropped, the
    session ran out, the server answered without a report), as the browser saw them: each a
    rejected outcome that says so. The job had waited for them 24 hours, "running", before
    the sweep gave up on it; with them counted it finishes as any other."""
    if job.status != ImportJob.Status.RUNNING:
        raise Conflict(
            f"import job #{job.pk} is {job.status}: nothing is waited for", code="finished"
        )
    if job.source != ImportJob.Source.UPLOAD:
        raise Conflict(
            f"import job #{job.pk} is a {job.source} import: it counts its own files",
            code="not_an_upload",
        )
    # A file the server recorded but whose answer was lost (a proxy's 502) is reported too:
    # passed over by its name, and no more than the job waits for are taken (refusing the
    # whole list left the job running).
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        recorded = Counter(r.get("name") for r in locked.report or [])
        unseen = []
        for f in files:
            if recorded[f["name"]] > 0:
                recorded[f["name"]] -= 1
            else:
                unseen.append(f)
        left = max(0, locked.total - locked.processed)
        outcomes = [
            FileOutcome(
                name=f["name"],
                status="rejected",
                error=f"{NOT_SENT}{(f.get('reason') or 'the upload failed').rstrip('. ')}; "
                "choose it again to upload it",
            )
            for f in unseen[:left]
        ]
        return import_job_add(locked, outcomes)


def import_job_finish(job: ImportJob, *, error: str = "") -> ImportJob:
    job.status = ImportJob.Status.FAILED if error else ImportJob.Status.DONE
    job.error = error
    job.finished_at = timezone.now()
    job.save()
    return job


def import_run(
    *,
    project: Project,
    items: Iterable[ImportItem],
    job: ImportJob,
    on_progress: Callable[[ImportJob, FileOutcome], None] | None = None,
    create_labels: bool | None = None,
) -> ImportJob:
    """Import a batch: each file on its own, the rest of the batch going on after a failure.
    Imported clips go to the worker in messages of ENQUEUE_BATCH clips.

    Labels a manifest names that the project lacks: created when `create_labels`, refused
    (the file rejected, naming the label) when false. None: created only into a project with
    no labels yet, whose label tree the manifest then makes; into an existing tree a typo
    ("twelve" among the digits) would otherwise become a label annotators are offered."""
    if create_labels is None:
        create_labels = not Label.objects.filter(ontology_id=project.ontology_id).exists()
    batch: list[int] = []

    def flush() -> None:
        if batch:
            clips_enqueue_processing(batch.copy())
            batch.clear()

    def collect(clip_id: int) -> None:
        batch.append(clip_id)
        if len(batch) >= ENQUEUE_BATCH:
            flush()

    saved = time.monotonic()
    try:
        outcomes = clip_imports(
            items, project=project, job=job, on_committed=collect, create_labels=create_labels
        )
        for n, outcome in enumerate(outcomes, start=1):
            due = n % JOB_SAVE_EVERY == 0 or time.monotonic() - saved > JOB_SAVE_EVERY_S
            import_job_record(job, outcome, save=due)
            if due:
                saved = time.monotonic()
            if on_progress:
                on_progress(job, outcome)
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        return import_job_finish(job, error=f"import stopped: {exc}")
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM in the command: the job says so, then stop
        import_job_finish(job, error=INTERRUPTED.format(done=job.processed, total=job.total))
        raise
    finally:
        flush()
    return import_job_finish(job)


def import_jobs_fail_stale(
    *,
    older_than: timedelta = IMPORT_STALE_AFTER,
    uploads_older_than: timedelta = UPLOAD_ABANDONED_AFTER,
) -> int:
    """Running imports without progress for long lost their sender, and are marked failed so
    that the project's page stops showing them as running. Returns how many. Command-line
    imports after `older_than` (their process was killed with SIGKILL, or the machine went
    down); browser and API uploads after `uploads_older_than`: their job spans one request
    per file, and one file over a slow link may take longer than a command-line import's
    silence allows, but a day without a file is a page closed before all its files were sent.
    The files that arrived stay imported."""
    now = timezone.now()
    running = ImportJob.objects.filter(status=ImportJob.Status.RUNNING)
    failed = running.filter(source=ImportJob.Source.CLI, updated_at__lt=now - older_than).update(
        status=ImportJob.Status.FAILED,
        error=STALE.format(minutes=int(older_than.total_seconds() // 60)),
        finished_at=now,
    )
    hours = int(uploads_older_than.total_seconds() // 3600)
    # A labels file's job is its worker's: label_imports.labels_jobs_fail_stale
    uploads = running.exclude(source__in=(ImportJob.Source.CLI, ImportJob.Source.LABELS))
    for job in uploads.filter(updated_at__lt=now - uploads_older_than):
        failed += ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            error=ABANDONED.format(done=job.processed, total=job.total, hours=hours),
            finished_at=now,
        )
    return failed
