"""Labels for clips already in the project, from a file a lead sends from the browser (or
`manage.py import_labels`): a CSV manifest or a Raven selection table, its rows naming
recordings by file name. Teams that labeled in Raven, a spreadsheet or another tool upload
their audio first, then this file; nothing of the audio is read again.

A row's recording is the project's clip of that original name (`ClipsByName`): a name no clip
has, or that several clips have, is that recording's error, and the file's other recordings
go on. Each clip's labels are added as a command-line import adds them to a file it has seen
before (`imports.labels_onto_clip`): into the system user's annotation, merged, and a
member's own annotation made once and never overwritten. The file is checked when it
arrives (what it is, its columns, labels the tree lacks: a 400 naming them); the clips are
labeled by the worker as an import job, whose progress the project page shows.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path, PureWindowsPath

from django.db import transaction
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.models import Clip, ImportJob, LabelsUpload, Project
from labelapp.services import imports
from labelapp.services.imports import AUDIO_EXTENSIONS, ImportItem
from labelapp.services.raven_tables import (
    is_raven_table,
    items_from_raven,
    no_recording_named,
    recording_named,
    recording_stem,
)

logger = logging.getLogger(__name__)

MAX_LABELS_FILE_BYTES = 20 * 1024 * 1024
NAME_HINT_CLIPS = 3  # clips named in a "several clips have this name" error
UNKNOWN_SHOWN = 8  # labels the tree lacks, named in the 400
STALE_AFTER = imports.IMPORT_STALE_AFTER
RESEND_AFTER = timedelta(minutes=2)
STALE = (
    "stopped: no progress for {minutes} minutes (its worker was stopped?); send the file "
    "again: labels a clip has already are not added twice"
)


class ClipsByName:
    """The project's clips, found by the file names a labels file gives its recordings."""

    def __init__(self, project: Project):
        self.project = project

    def find(self, *refs: str) -> tuple[object, ImportItem]:
        """(a key, one per clip; an item for the clip) for the first of `refs` (file names
        or paths: their last part counts) that names a clip; else an item whose error says
        why none was found."""
        names = [n for n in dict.fromkeys(_file_name(r) for r in refs if r) if n]
        for name in names:
            clips = self._named(name)
            if len(clips) == 1:
                return clips[0].pk, ImportItem(name=clips[0].original_name, clip=clips[0])
            if clips:
                return ("twins", name), ImportItem(name=name, error=_twins(name, clips))
        name = names[0] if names else "?"
        return ("missing", name), ImportItem(
            name=name,
            error=f"no clip of this project is named {name}: import the recording first",
        )

    def item(self, table: Path, row: dict) -> tuple[object, ImportItem]:
        """A Raven table's row: its `Begin File`, else the recording the table's name names
        (`dawn.Table.1.selections.txt`: the clip dawn.wav, or dawn.flac...)."""
        if named := recording_named(row):
            return self.find(named)
        stem = recording_stem(table)
        if stem is None:
            missing = ImportItem(name=table.name, error=no_recording_named(table))
            return ("missing", table.name), missing
        clips = [
            c
            for c in Clip.objects.filter(
                project=self.project, original_name__startswith=f"{stem}."
            ).order_by("pk")
            if Path(c.original_name).stem == stem
            and Path(c.original_name).suffix.lower() in AUDIO_EXTENSIONS
        ]
        if len(clips) == 1:
            return clips[0].pk, ImportItem(name=clips[0].original_name, clip=clips[0])
        if clips:
            return ("twins", stem), ImportItem(name=stem, error=_twins(f"{stem}.*", clips))
        return ("missing", stem), ImportItem(
            name=stem,
            error=f"no clip of this project is named {stem}.<wav, flac, mp3...> (the table's "
            "name names it): import the recording first, or give the table a 'Begin File' "
            "column",
        )

    def header(self, item: ImportItem) -> tuple[int, float]:
        if item.clip is None:
            return 0, 0.0
        return item.clip.channels, item.clip.sample_rate / 2

    def _named(self, name: str) -> list[Clip]:
        found = list(
            Clip.objects.filter(project=self.project, original_name=name).order_by("pk")[:10]
        )
        if not found:  # "Dawn.WAV" in the table, "dawn.wav" here
            found = list(
                Clip.objects.filter(project=self.project, original_name__iexact=name).order_by(
                    "pk"
                )[:10]
            )
        return found


def _file_name(ref: str) -> str:
    name = PureWindowsPath(str(ref).strip()).name  # "C:\\rec\\a.wav" and "rec/a.wav" alike
    return "" if name in (".", "..") else name


def _twins(name: str, clips: list[Clip]) -> str:
    ids = ", ".join(f"#{c.pk}" for c in clips[:NAME_HINT_CLIPS])
    more = "…" if len(clips) > NAME_HINT_CLIPS else ""
    return (
        f"{len(clips)}{'+' if len(clips) >= 10 else ''} clips of this project are named {name} "
        f"({ids}{more}): rename all but one of them, or label them in the workspace"
    )


def labels_file_items(project: Project, name: str, path: Path) -> list[ImportItem]:
    """The recordings a labels file names, each an item for its clip (or an error)."""
    suffix = path.suffix.lower()
    clips = ClipsByName(project)
    if suffix == ".csv":
        from labelapp.services.manifests import items_from_csv

        return items_from_csv(path, clips=clips)
    if suffix == ".json":
        raise DomainError(
            f"{name}: a Label Studio or Earmark JSON file is imported with its audio, from a "
            "shell (manage.py import_audio PROJECT FILE.json); here: a CSV manifest or a Raven "
            "selection table"
        )
    if is_raven_table(path):
        return items_from_raven(path, clips)
    raise DomainError(
        f"{name}: not a CSV manifest (.csv, with an 'audio' column) nor a Raven selection "
        "table (.txt, tab-separated, with 'Begin Time (s)')"
    )


def _with_file(name: str, data: bytes, read):
    """`read(path)` of the file written under its own name (a Raven table's name names its
    recording) in a folder of its own."""
    with tempfile.TemporaryDirectory(prefix="earmark-labels-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read(path)


def _label_names(items: list[ImportItem]) -> list[str]:
    names: dict[str, None] = {}
    for item in items:
        if item.error:
            continue
        groups = [item.clip_labels, *(s["labels"] for s in item.segments)]
        for entry in item.annotations:
            groups += [entry["clip_labels"], *(s["labels"] for s in entry["segments"])]
        for group in groups:
            names.update(dict.fromkeys(group))
    return list(names)


def _unknown_labels(project: Project, items: list[ImportItem]) -> list[str]:
    from ontology.services import label_resolve

    unknown = []
    for name in _label_names(items):
        try:
            label_resolve(ontology=project.ontology, ref=name)
        except DomainError as exc:
            if exc.code == "unknown_label":
                unknown.append(name)
    return unknown


def labels_import_start(
    *,
    project: Project,
    user,
    name: str,
    data: bytes,
    create_labels: bool = False,
    suggestions_from: str = "",
    to_worker: bool = True,
) -> ImportJob:
    """Check a labels file and leave it to the worker as an import job (pending; with
    `to_worker` false the caller runs it: `labels_import_run`). With `suggestions_from` (a
    source's name: "birdnet-2.4") its rows are a model's detections, not people's labels:
    each clip gets them, with their scores, as that source's suggestions. A file that
    is not one, that names no recording, or (unless `create_labels`) that names labels the
    project's tree lacks, raises DomainError naming what is wrong; its recordings that are
    not clips here are the job's rejected entries, the others go on."""
    name = _file_name(name or "")
    if not name:
        raise DomainError("the labels file has no name", code="no_name")
    if suggestions_from:
        from ml_backend.services import external_source_checked

        try:
            suggestions_from = external_source_checked(project, suggestions_from)
        except DomainError as exc:
            raise DomainError(
                exc.message.replace("model_version:", "the suggestions' source:"), code="invalid"
            ) from None
    if len(data) > MAX_LABELS_FILE_BYTES:
        raise DomainError(
            f"{name} is larger than {MAX_LABELS_FILE_BYTES // (1024 * 1024)} MB: split it",
            code="too_large",
        )
    if not data.strip():
        raise DomainError(f"{name} is empty", code="empty")
    items = _with_file(name, data, lambda path: labels_file_items(project, name, path))
    if not items:
        raise DomainError(f"{name} names no recording: it has no rows", code="no_rows")
    if not any(item.clip is not None for item in items):
        shown = "; ".join(i.error for i in items[:3])
        raise DomainError(
            f"{name}: none of its {len(items)} recording{'s' if len(items) != 1 else ''} is a "
            f"clip of this project ({shown}{'; …' if len(items) > 3 else ''})",
            code="no_clip",
        )
    if not create_labels and (unknown := _unknown_labels(project, items)):
        listed = ", ".join(unknown[:UNKNOWN_SHOWN]) + (
            f" and {len(unknown) - UNKNOWN_SHOWN} more" if len(unknown) > UNKNOWN_SHOWN else ""
        )
        raise DomainError(
            f"{name} names {len(unknown)} label{'s' if len(unknown) != 1 else ''} the label "
            f"tree lacks: {listed}. Add them to the tree, fix the file, or let the import add "
            "them",
            code="unknown_labels",
        )
    from labelapp.queueing import enqueue_on_commit
    from labelapp.tasks import labels_import

    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            source=ImportJob.Source.LABELS,
            status=ImportJob.Status.PENDING,
            total=len(items),
        )
        LabelsUpload.objects.create(
            job=job,
            name=name,
            data=data,
            create_labels=create_labels,
            suggestions_from=suggestions_from,
        )
        if to_worker:
            enqueue_on_commit(labels_import, job.pk)
    return job


def labels_import_run(job_id: int, on_progress=None) -> ImportJob | None:
    """Label the clips of a pending labels job. Idempotent: only the delivery that moves the
    job from pending to running does the work. `on_progress(job)` after each recording."""
    claimed = ImportJob.objects.filter(
        pk=job_id,
        status=ImportJob.Status.PENDING,
        source=ImportJob.Source.LABELS,
        project__deleted_at__isnull=True,  # a project being deleted is not labeled
    ).update(status=ImportJob.Status.RUNNING, updated_at=timezone.now())
    if not claimed:
        return None
    job = ImportJob.objects.select_related("project__ontology").get(pk=job_id)
    upload = LabelsUpload.objects.filter(job=job).first()
    if upload is None:
        return imports.import_job_finish(job, error="its labels file is gone: send it again")
    project = job.project
    try:
        items = _with_file(
            upload.name,
            bytes(upload.data),
            lambda path: labels_file_items(project, upload.name, path),
        )
        job.total = len(items)
        saved = time.monotonic()
        for n, item in enumerate(items, start=1):
            outcome = labels_onto_clip(
                project,
                item,
                create_labels=upload.create_labels,
                suggestions_from=upload.suggestions_from,
            )
            due = n % imports.JOB_SAVE_EVERY == 0 or time.monotonic() - saved > 5.0
            imports.import_job_record(job, outcome, save=due)
            if due:
                saved = time.monotonic()
            if on_progress:
                on_progress(job)
    except DomainError as exc:  # the file changed meaning since it was checked
        return imports.import_job_finish(job, error=exc.message)
    except Exception as exc:
        logger.exception("labels import %s failed", job_id)
        return imports.import_job_finish(job, error=f"import stopped: {exc}")
    finally:
        LabelsUpload.objects.filter(job_id=job_id).update(data=b"")
    return imports.import_job_finish(job)


def labels_onto_clip(
    project: Project, item: ImportItem, *, create_labels: bool, suggestions_from: str = ""
):
    """One recording's labels onto its clip, as annotations or (`suggestions_from`) as a
    source's suggestions: the outcome "labeled" or "suggested", or "rejected" with why."""
    if item.error or item.clip is None:
        return imports.FileOutcome(item.name, "rejected", error=item.error or "no clip")
    if suggestions_from:
        return _suggestions_onto_clip(project, item, suggestions_from, create_labels)
    return imports.labels_onto_clip(project, item, create_labels=create_labels)


def _suggestions_onto_clip(
    project: Project, item: ImportItem, source: str, create_labels: bool
) -> imports.FileOutcome:
    """The item's segments (every annotator's in the file alike) and clip labels as one
    prediction of `source` for its clip: a segment a label, scored as the file scores it (1
    where it does not); a clip label scored as the file does, or as its best segment. The
    same source again replaces the clip's earlier suggestions from it."""
    from ml_backend.services import predictions_import_checked
    from ontology.services import label_resolve

    clip_labels = list(item.clip_labels)
    segments = list(item.segments)
    for entry in item.annotations:
        clip_labels += entry["clip_labels"]
        segments += entry["segments"]
    clip_scores: dict[str, float] = {name: item.clip_scores.get(name, 1.0) for name in clip_labels}
    predicted = []
    for seg in segments:
        score = seg.get("score", 1.0)
        for name in seg["labels"]:
            predicted.append(
                {
                    "start": seg["start"],
                    "end": seg["end"],
                    "channel": seg.get("channel"),
                    "label": name,
                    "score": score,
                    "row": seg.get("row"),
                }
            )
            clip_scores[name] = max(score, clip_scores.get(name, score))
    try:
        with transaction.atomic():
            if create_labels:
                for name in clip_scores:
                    label_resolve(ontology=project.ontology, ref=name, create=True)
            done = predictions_import_checked(
                project=project,
                model_version=source,
                items=[
                    {
                        "clip": item.clip.pk,
                        "clip_labels": [{"label": k, "score": v} for k, v in clip_scores.items()],
                        "segments": [{k: v for k, v in p.items() if k != "row"} for p in predicted],
                    }
                ],
            )
            if done["rejected"]:
                raise DomainError(_row_named(done["rejected"][0]["reason"], predicted))
    except DomainError as exc:
        return imports.FileOutcome(item.name, "rejected", item.clip.pk, exc.message)
    return imports.FileOutcome(item.name, "suggested", item.clip.pk)


def _row_named(reason: str, predicted: list[dict]) -> str:
    """ "segment 3: ..." as the file's row ("row 7: ..."), where the file numbered its rows."""
    head, _, rest = reason.partition(": ")
    if head.startswith("segment ") and head[8:].isdigit():
        n = int(head[8:])
        if 1 <= n <= len(predicted) and predicted[n - 1].get("row"):
            return f"row {predicted[n - 1]['row']}: {rest}"
    return reason


def labels_jobs_resend(*, older_than=RESEND_AFTER) -> list[int]:
    """Pending labels jobs no worker has taken for a while (the broker was down when the file
    came): their ids, to send again (a job already taken is not run twice)."""
    return list(
        ImportJob.objects.filter(
            source=ImportJob.Source.LABELS,
            status=ImportJob.Status.PENDING,
            updated_at__lt=timezone.now() - older_than,
            updated_at__gte=timezone.now() - STALE_AFTER,
        ).values_list("pk", flat=True)
    )


def labels_jobs_fail_stale(*, older_than=STALE_AFTER) -> int:
    """Labels jobs whose worker went away mid-way (it writes progress every few seconds), or
    whose message never reached one, stop showing as running or pending."""
    now = timezone.now()
    jobs = ImportJob.objects.filter(
        source=ImportJob.Source.LABELS,
        status__in=(ImportJob.Status.PENDING, ImportJob.Status.RUNNING),
        updated_at__lt=now - older_than,
    )
    ids = list(jobs.values_list("pk", flat=True))
    done = jobs.update(
        status=ImportJob.Status.FAILED,
        error=STALE.format(minutes=int(older_than.total_seconds() // 60)),
        finished_at=now,
    )
    LabelsUpload.objects.filter(job_id__in=ids).update(data=b"")
    return done
