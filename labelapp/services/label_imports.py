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

import csv
import io
import logging
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path, PureWindowsPath

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.models import Clip, ImportJob, LabelsUpload, Project
from labelapp.services import imports
from labelapp.services.imports import AUDIO_EXTENSIONS, ImportItem
from labelapp.services.raven_tables import (
    is_raven_table,
    items_from_raven,
    no_recording_named,
    recording_stem,
)

logger = logging.getLogger(__name__)

DECIMAL_COMMA = re.compile(r"^(-?\d+),(\d+)$")

MAX_LABELS_FILE_BYTES = 20 * 1024 * 1024
NAME_HINT_CLIPS = 3  # clips named in a "several clips have this name" error
UNKNOWN_SHOWN = 8  # labels the tree lacks, named in the 400
STALE_AFTER = imports.IMPORT_STALE_AFTER
RESEND_AFTER = timedelta(minutes=2)
PENDING_STALE_AFTER = timedelta(hours=24)
STALE = (
    "no progress for {minutes} minutes (its worker was stopped?); send the file again: labels "
    "a clip has already are not added twice"
)


class ClipsByName:
    """The project's clips, found by the file names a labels file gives its recordings. The
    names are read once (one query, not two a row: a 50,000-row file spent 71 of 73 s
    looking clips up); a name several clips share (AudioMoth's `20240501_050000.WAV` from two
    sites) is told apart by the folders the row gives, against each clip's `source_path`
    (its path as a folder import read it), or by its clip id."""

    def __init__(self, project: Project):
        self.project = project
        self._index: dict[str, list[tuple[int, str]]] | None = None
        self._folded: dict[str, list[tuple[int, str]]] = {}
        self._clips: dict[int, Clip] = {}
        self._stems: dict[str, list[tuple[int, str]]] = {}

    def _load(self) -> None:
        if self._index is not None:
            return
        self._index = {}
        rows = Clip.objects.filter(project=self.project).values_list(
            "pk", "original_name", "metadata"
        )
        for pk, name, metadata in rows.order_by("pk").iterator(chunk_size=5000):
            source = (metadata or {}).get("source_path") if isinstance(metadata, dict) else ""
            entry = (pk, str(source or ""))
            self._index.setdefault(name, []).append(entry)
            self._folded.setdefault(name.casefold(), []).append(entry)

    def _clip(self, pk: int) -> Clip:
        if pk not in self._clips:
            self._clips[pk] = Clip.objects.get(pk=pk)
        return self._clips[pk]

    def _item(self, pk: int) -> tuple[object, ImportItem]:
        clip = self._clip(pk)
        name = clip.original_name
        if len(self._index.get(name, [])) > 1:  # one of several: named with its folders
            metadata = clip.metadata if isinstance(clip.metadata, dict) else {}
            name = str(metadata.get("source_path") or f"{name} (#{pk})")
        return pk, ImportItem(name=name, clip=clip)

    def find(self, *refs: str, clip_id: str = "", table: bool = False) -> tuple[object, ImportItem]:
        """(a key, one per clip; an item for the clip) for the first of `refs` (file names
        or paths: their last part names the clip, the folders before it tell apart clips of
        one name) that names a clip; else an item whose error says why none was found. A
        `clip_id` (an Earmark export's) counts where that clip here has one of those names
        (another project's ids mean nothing here)."""
        self._load()
        refs = tuple(r for r in refs if r and _file_name(r))
        names = list(dict.fromkeys(_file_name(r) for r in refs))
        if clip_id.strip().isdigit():
            pk = int(clip_id)
            for name in names:
                if any(c == pk for c, _ in self._index.get(name, [])):
                    return self._item(pk)
        for name in names:
            clips = self._index.get(name) or self._folded.get(name.casefold(), [])
            if len(clips) == 1:
                return self._item(clips[0][0])
            if clips:
                chosen = _by_folders(clips, [r for r in refs if _file_name(r) == name])
                if chosen is not None:
                    return self._item(chosen)
                twins = _twins(name, clips, table=table)
                return ("twins", name), ImportItem(name=name, error=twins)
        name = names[0] if names else "?"
        return ("missing", name), ImportItem(
            name=name,
            error=f"no clip of this project is named {name}: import the recording first",
        )

    def item(self, table: Path, row: dict) -> tuple[object, ImportItem]:
        """A Raven table's row: its `Clip ID` (an Earmark table's), its `Begin Path` (the
        folders too) or `Begin File`, else the recording the table's name names
        (`dawn.Table.1.selections.txt`: the clip dawn.wav, or dawn.flac...)."""
        named = [row.get("Begin Path", ""), row.get("Begin File", "")]
        if any(_file_name(r) for r in named):
            return self.find(*named, clip_id=row.get("Clip ID", ""), table=True)
        stem = recording_stem(table)
        if stem is None:
            missing = ImportItem(name=table.name, error=no_recording_named(table))
            return ("missing", table.name), missing
        self._load()
        if stem not in self._stems:  # read once a table, not once a row
            self._stems[stem] = [
                entry
                for name, entries in self._index.items()
                if Path(name).stem.casefold() == stem.casefold()
                and Path(name).suffix.lower() in AUDIO_EXTENSIONS
                for entry in entries
            ]
        clips = self._stems[stem]
        if len(clips) == 1:
            return self._item(clips[0][0])
        if clips:
            return ("twins", stem), ImportItem(
                name=stem, error=_twins(f"{stem}.*", clips, table=True)
            )
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


def _file_name(ref: str) -> str:
    name = PureWindowsPath(str(ref).strip()).name  # "C:\\rec\\a.wav" and "rec/a.wav" alike
    return "" if name in (".", "..") else name


def _folders(ref: str) -> list[str]:
    """A path's folders, nearest first, compared without case ("D:\\SITE1\\x.WAV": site1)."""
    parts = PureWindowsPath(str(ref).strip()).parts[:-1]
    return [p.casefold().rstrip("\\/:") for p in reversed(parts) if p.strip("\\/:")]


def _by_folders(clips: list[tuple[int, str]], refs: list[str]) -> int | None:
    """The one clip whose `source_path` has the folders a row's path ends with (as many as
    tell the clips apart), or None."""
    for ref in refs:
        want = _folders(ref)
        for depth in range(1, len(want) + 1):
            fits = [
                pk for pk, source in clips if source and _folders(source)[:depth] == want[:depth]
            ]
            if len(fits) == 1:
                return fits[0]
            if not fits:
                break
    return None


def _twins(name: str, clips: list[tuple[int, str]], *, table: bool = False) -> str:
    ids = ", ".join(f"#{pk}" for pk, _ in clips[:NAME_HINT_CLIPS])
    more = "…" if len(clips) > NAME_HINT_CLIPS else ""
    how = (
        "a 'Begin Path' column with the folders it was imported from (D:\\SITE1\\"
        f"{name}), or a 'Clip ID' column"
        if table
        else f"the folders it was imported from (SITE1/{name}), or a 'clip_id' column"
    )
    return (
        f"{len(clips)} clips of this project are named {name} ({ids}{more}), and the file does "
        f"not say which: give {how}"
    )


def labels_file_items(project: Project, name: str, path: Path) -> list[ImportItem]:
    """The recordings a labels file names, each an item for its clip (or an error)."""
    suffix = path.suffix.lower()
    clips = ClipsByName(project)
    if is_raven_table(path):  # a .txt, or a .tsv of Raven's columns
        return items_from_raven(path, clips)
    if suffix == ".csv":
        from labelapp.services.manifests import items_from_csv

        return items_from_csv(path, clips=clips)
    if suffix == ".json":
        raise DomainError(
            f"{name}: a Label Studio or Earmark JSON file is imported with its audio, from a "
            "shell (manage.py import_audio PROJECT FILE.json); here: a CSV manifest or a Raven "
            "selection table"
        )
    raise DomainError(
        f"{name}: not a CSV manifest (.csv, with an 'audio' column) nor a Raven selection "
        "table (.txt, tab-separated, with 'Begin Time (s)')"
    )


def _with_file(name: str, data: bytes, read):
    """`read(path)` of the file written under its own name (a Raven table's name names its
    recording) in a folder of its own, as the readers take it (`_as_read`)."""
    name, data = _as_read(name, data)
    with tempfile.TemporaryDirectory(prefix="earmark-labels-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read(path)


def _as_read(name: str, data: bytes) -> tuple[str, bytes]:
    """Spreadsheets' ways of writing a table, as the readers read them: UTF-16 ("Unicode
    text" from Excel) and Windows-1252 as UTF-8, a CSV of `;` (Excel where a comma is the
    decimal mark; its decimal commas as points) or of tabs (`.tsv`) as one of commas; a
    `.tsv` of Raven's columns stays a selection table."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        data = data.decode("utf-16").encode("utf-8")
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".tsv"):
        return name, data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    head = text.split("\n", 1)[0]
    if suffix == ".tsv" and "begin time (s)" in head.lower():
        return name, text.encode("utf-8")  # a selection table (`labels_file_items`)
    delimiter = ","
    if "," not in head:
        delimiter = "\t" if "\t" in head else ";" if ";" in head else ","
    if delimiter != ",":
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        if delimiter == ";":  # where a comma is the decimal mark: "1,5" s, "1000,5" Hz
            rows = ([DECIMAL_COMMA.sub(r"\1.\2", cell) for cell in row] for row in rows)
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        text = out.getvalue()
    return f"{Path(name).stem}.csv", text.encode("utf-8")


def _label_names(items: list[ImportItem]) -> list[str]:
    names: dict[str, None] = {}
    for item in items:
        if item.error:
            continue
        names.update(dict.fromkeys(item.every_clip_label()))
        for seg in item.every_segment():
            names.update(dict.fromkeys(seg["labels"]))
    return list(names)


def _label_problems(project: Project, items: list[ImportItem]) -> tuple[list[str], list[str]]:
    """(the labels the file names that the tree lacks; what else the project's rules refuse
    of the labels it names: an ambiguous name, a deprecated label, a label with kinds in a
    leaves-only project), each label once: found when the file arrives, not clip by clip
    after minutes of work."""
    from ontology.services import label_resolve
    from ontology.tree import tree_get

    unknown, refused = [], []
    tree = None
    for name in _label_names(items):
        try:
            label = label_resolve(ontology=project.ontology, ref=name)
        except DomainError as exc:
            (unknown if exc.code == "unknown_label" else refused).append(
                name if exc.code == "unknown_label" else exc.message
            )
            continue
        tree = tree or tree_get(project.ontology)
        if label.deprecated or label.pk in tree.retired:
            refused.append(f"label {label.path!r} is deprecated")
        elif project.leaves_only and not tree.is_leaf(label.pk):
            refused.append(f"label {label.path!r} is not a leaf (this project takes leaves)")
    return unknown, refused


def _listed(things: list[str], between: str = ", ", before_more: str = " ") -> str:
    """The first UNKNOWN_SHOWN of `things`, and how many more ("a, b and 3 more")."""
    shown = things[:UNKNOWN_SHOWN]
    more = len(things) - len(shown)
    return between.join(shown) + (f"{before_more}and {more} more" if more else "")


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
    if suggestions_from and not suggestions_from.strip():
        raise DomainError(
            "the suggestions' source: name it (e.g. birdnet-2.4), or send none to import "
            "annotations",
            code="invalid",
        )
    if suggestions_from:
        from ml_backend.models import ModelVersion
        from ml_backend.services import external_source_checked

        active = ModelVersion.objects.filter(
            project=project, status=ModelVersion.Status.ACTIVE
        ).first()
        if active is not None:
            raise DomainError(
                f"this project's own model ({active.name or f'v{active.version}'}) is active: "
                "the workspace suggests from it, and another source's suggestions would not be "
                "shown; import the file as annotations (its rows then count as people's "
                "labels), or not at all",
                code="own_model_active",
            )

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
    unknown, refused = _label_problems(project, items)
    if refused:
        raise DomainError(
            f"{name}: {_listed(refused, '; ', '; ')}. Fix the file (a label's full path), or the "
            "label tree",
            code="refused_labels",
        )
    # Into a project without labels, the file's labels make its tree (as a manifest's do).
    create_labels = create_labels or not project.ontology.labels.exists()
    if unknown and not create_labels:
        raise DomainError(
            f"{name} names {len(unknown)} label{'s' if len(unknown) != 1 else ''} the label "
            f"tree lacks: {_listed(unknown)}. Add them to the tree, fix the file, or let the "
            "import add them",
            code="unknown_labels",
        )
    if project.annotation_mode != Project.AnnotationMode.BOTH and not suggestions_from:
        _mode_check(project, name, items)
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


def _mode_check(project: Project, name: str, items: list[ImportItem]) -> None:
    """A file of segments into a project of clip labels only (or the other way round): every
    clip would be refused, so the file is."""
    segments = any(i.every_segment() for i in items)
    clip_labels = any(i.every_clip_label() for i in items)
    if project.annotation_mode == Project.AnnotationMode.CLIP and segments:
        raise DomainError(
            f"{name} gives segments (rows with start and end), and this project takes clip "
            "labels only: change what annotators mark in its settings, or send clip labels",
            code="segments_refused",
        )
    if project.annotation_mode == Project.AnnotationMode.SEGMENTS and clip_labels:
        raise DomainError(
            f"{name} gives clip labels (rows without start and end), and this project takes "
            "segments only: change what annotators mark in its settings, or send segments",
            code="clip_labels_refused",
        )


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
    labels = project.ontology.labels
    before = set(labels.values_list("pk", flat=True))
    labeled: list[int] = []  # clips whose labels changed: they count towards a training
    try:
        items = _with_file(
            upload.name,
            bytes(upload.data),
            lambda path: labels_file_items(project, upload.name, path),
        )
        job.total = len(items)
        job.save(update_fields=["total"])
        saved = time.monotonic()
        for n, item in enumerate(items, start=1):
            outcome = labels_onto_clip(
                project,
                item,
                create_labels=upload.create_labels,
                suggestions_from=upload.suggestions_from,
            )
            if outcome.status == "labeled":
                labeled.append(outcome.clip_id)
            due = n % imports.JOB_SAVE_EVERY == 0 or time.monotonic() - saved > 2.0
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
        added = sorted(labels.exclude(pk__in=before).values_list("path", flat=True))
        LabelsUpload.objects.filter(job_id=job_id).update(data=b"", labels_added=added)
        _count_towards_training(project.pk, labeled)
    return imports.import_job_finish(job)


def _count_towards_training(project_id: int, clip_ids: list[int]) -> None:
    """Clips already processed whose labels the file changed count towards the project's
    next training as submissions do (those still processing are counted when they are
    ready, as an import's are): they were never counted, and no training came."""
    if not clip_ids:
        return
    from ml_backend.hooks import labeled_clips_ready

    ready = Clip.objects.filter(pk__in=clip_ids, status=Clip.Status.READY).count()
    if ready:
        transaction.on_commit(
            lambda: labeled_clips_ready(project_id=project_id, count=ready), robust=True
        )


def labels_onto_clip(
    project: Project, item: ImportItem, *, create_labels: bool, suggestions_from: str = ""
):
    """One recording's labels onto its clip, as annotations or (`suggestions_from`) as a
    source's suggestions: the outcome "labeled" or "suggested", or "rejected" with why."""
    clip_id = item.clip.pk if item.clip is not None else None
    if item.error or item.clip is None:
        return imports.FileOutcome(item.name, "rejected", clip_id, item.error or "no clip")
    cut = _ends_cut(item)
    if suggestions_from:
        outcome = _suggestions_onto_clip(project, item, suggestions_from, create_labels)
    else:
        outcome = imports.labels_onto_clip(project, item, create_labels=create_labels)
        if outcome.status != "rejected" and item.metadata:
            _metadata_added(item.clip, item.metadata)
    if cut and outcome.status != "rejected":
        said = (
            f"{cut} segment{'s' if cut != 1 else ''} ending past the clip's end "
            f"({item.clip.duration:g} s) cut there"
        )
        outcome.error = f"{outcome.error}; {said}" if outcome.error else said
    return outcome


# A segment may end this far past its clip's end and be cut there: a detector's last window
# (BirdNET's 3 s from 18 s of a 20 s recording) or a box drawn to the end. Further, the
# file is of another recording, or its times are off: refused, naming the row.
END_SLACK_S = 5.0


def _ends_cut(item: ImportItem) -> int:
    """Cuts the item's segments that start in its clip and end at most END_SLACK_S past its
    end to the end; how many."""
    duration = item.clip.duration
    cut = 0
    for seg in item.every_segment():
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if duration and start < duration < end <= duration + END_SLACK_S:
            seg["end"] = duration
            cut += 1
    return cut


def _metadata_added(clip: Clip, metadata: dict) -> None:
    """A CSV's other columns (site, recorder...), as a manifest's become clip metadata; a
    clip's own `source_path` is kept."""
    merged = {**(clip.metadata or {}), **metadata}
    if "source_path" in (clip.metadata or {}):
        merged["source_path"] = clip.metadata["source_path"]
    if merged != clip.metadata:
        Clip.objects.filter(pk=clip.pk).update(metadata=merged)
        clip.metadata = merged


def _suggestions_onto_clip(
    project: Project, item: ImportItem, source: str, create_labels: bool
) -> imports.FileOutcome:
    """The item's segments (every annotator's in the file alike) and clip labels as one
    prediction of `source` for its clip: a segment a label, scored as the file scores it (1
    where it does not); a clip label scored as the file does, or as its best segment. The
    same source again replaces the clip's earlier suggestions from it."""
    from ml_backend.services import predictions_import_checked
    from ontology.services import label_resolve

    clip_scores = {name: item.clip_scores.get(name, 1.0) for name in item.every_clip_label()}
    predicted = []
    for seg in item.every_segment():
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
    from ml_backend.models import ModelVersion, Prediction

    theirs = Prediction.objects.filter(
        clip=item.clip,
        model_version__project=project,
        model_version__name=source,
        model_version__status=ModelVersion.Status.EXTERNAL,
    ).values_list("clip_scores", "segments")
    try:
        with transaction.atomic():
            before = theirs.first()
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
    if before is not None and tuple(before) == tuple(theirs.first() or ()):
        return imports.FileOutcome(
            item.name, "unchanged", item.clip.pk, f"it has these suggestions from {source} already"
        )
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
            updated_at__gte=timezone.now() - PENDING_STALE_AFTER,
        ).values_list("pk", flat=True)
    )


def labels_jobs_fail_stale(*, older_than=STALE_AFTER) -> int:
    """Labels jobs whose worker went away mid-way (it writes progress every few seconds), or
    whose message never reached one, stop showing as running or pending."""
    now = timezone.now()
    # A running job writes progress every few seconds; a pending one may wait behind other
    # work (a day: then no worker is coming).
    jobs = ImportJob.objects.filter(
        Q(status=ImportJob.Status.RUNNING, updated_at__lt=now - older_than)
        | Q(status=ImportJob.Status.PENDING, updated_at__lt=now - PENDING_STALE_AFTER),
        source=ImportJob.Source.LABELS,
    )
    ids = list(jobs.values_list("pk", flat=True))
    done = jobs.update(
        status=ImportJob.Status.FAILED,
        error=STALE.format(minutes=int(older_than.total_seconds() // 60)),
        finished_at=now,
    )
    LabelsUpload.objects.filter(job_id__in=ids).update(data=b"")
    return done
