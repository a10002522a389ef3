"""Training manifests: one row per labeled clip with its file, its labels and its split.

A clip's labels are what its annotators agree on: in a single-label project the label most
of them chose (a tie leaves the clip out), in a multi-label project every label at least half
of them chose. In a multi-label project an annotation's labels are its clip labels and its
segments' labels, as the training reads them; in a single-label one its clip label, or its
segments' labels when it has none. Without a status filter only submitted and accepted
annotations count.

Splits (train/validation/test, `splits` fractions, default 0.8/0.1/0.1) are stratified by
label and grouped by a metadata field (`group_by`, e.g. `speaker` or `site`): all clips of a
group land in one split, so a model is never tested on a source it trained on. Groups are
placed largest first, in an order fixed by `seed`, each into the split that is furthest below
its own target (relatively) for the group's labels and for clips; the same data and seed give
the same split. A clip without the field is a group of its own. Two passes over the clips:
the first counts labels per group, the second writes rows; only group counts stay in memory.

As labels grow, the same seed places groups anew, and a clip tested on before may land in
train (test-set leakage across exports). `keep_splits` names an earlier manifest export of
the project: a group with a clip in it keeps that clip's split, and only the new groups are
placed, against the targets counted with the kept ones.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import TextIO

from django.core.files.storage import default_storage

from labelapp.consensus import clip_answer, reviewed_vote
from labelapp.errors import DomainError
from labelapp.exports.common import (
    SPLITS,
    ExportContext,
    SafeCsvWriter,
    annotation_content,
    clip_batches,
)
from labelapp.models import Annotation, Clip, Project

COUNTED = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)
COLUMNS = ["clip_id", "audio", "original_name", "labels", "split", "group"]


def clip_consensus(clip, ctx: ExportContext) -> list[str]:
    """The labels a training should take for the clip, or none (the clip is left out): the
    majority of its annotations, where a reviewer's decision outweighs unreviewed work (if
    any annotation is accepted, only accepted ones vote); a clip sent to adjudication, and a
    single-label tie, are left out for a reviewer to settle (a tie went to the first label
    in alphabetical order)."""
    if clip.needs_adjudication:
        return []
    annotations = clip.export_annotations
    if "status" not in ctx.filters.normalized:
        annotations = [a for a in annotations if a.status in COUNTED]
    multi = ctx.project.label_mode == Project.LabelMode.MULTI
    answers = []
    for annotation in annotations:
        clip_labels, segments = annotation_content(annotation)
        segment_labels = [p for s in segments for p in s["labels"]]
        answers.append((annotation.status, clip_answer(clip_labels, segment_labels, multi=multi)))
    return reviewed_vote(answers, single=not multi)


def group_field_check(project, field: str) -> None:
    """A `group_by` that no clip of the project has is a typo ("Speaker" for "speaker"), and
    grouping by it would put every clip in a group of its own: the speaker leak across splits
    the option exists to prevent. Refused, naming the fields clips do have."""
    if not field:
        return
    clips = Clip.objects.filter(project=project)
    if clips.filter(metadata__has_key=field).exists():
        return
    seen: set[str] = set()
    for metadata in clips.exclude(metadata={}).values_list("metadata", flat=True)[:1000]:
        if isinstance(metadata, dict):
            seen.update(str(k) for k in metadata)
    have = ", ".join(sorted(seen)[:20]) or (
        "none: the clips have no metadata; set some from their file names on the project page "
        "(Metadata from file names) or with manage.py clip_metadata"
    )
    raise DomainError(
        f"option 'group_by': no clip of this project has the metadata field {field!r} "
        f"(fields the clips have: {have})",
        code="invalid_option",
    )


def _group(clip, field: str) -> tuple[str, str]:
    """(the group's key, the field's value or '' when the clip is a group of its own)."""
    value = (clip.metadata or {}).get(field) if field else None
    if value in (None, ""):
        return f"clip:{clip.pk}", ""
    return f"value:{value}", str(value)


def splits_assign(
    groups: dict[str, tuple[int, Counter]],
    ratios: list[float],
    seed: int,
    fixed: dict[str, str] | None = None,
) -> dict[str, str]:
    """Each group's split: stratified by label, sized by `ratios`, reproducible by `seed`.
    `fixed` groups keep the split given (an earlier manifest's) and count towards the
    targets the others are placed against."""
    fixed = {k: v for k, v in (fixed or {}).items() if k in groups}
    rng = random.Random(seed)
    keys = sorted(k for k in groups if k not in fixed)
    rng.shuffle(keys)
    keys.sort(key=lambda k: -groups[k][0])  # stable: equal sizes keep the seeded order
    label_total: Counter[str] = Counter()
    for _, labels in groups.values():
        label_total.update(labels)
    clip_total = sum(n for n, _ in groups.values()) or 1
    placed_clips = dict.fromkeys(SPLITS, 0)
    placed_labels = {s: Counter() for s in SPLITS}
    open_splits = [s for s, r in zip(SPLITS, ratios, strict=True) if r > 0]
    share = dict(zip(SPLITS, ratios, strict=True))
    out: dict[str, str] = {}
    for key, split in fixed.items():
        size, labels = groups[key]
        out[key] = split
        placed_clips[split] += size
        placed_labels[split].update(labels)
    for key in keys:
        size, labels = groups[key]
        weight = sum(labels.values()) or 1

        def need(split: str, labels=labels, weight=weight) -> float:
            # Relative deficits (what is missing of the split's own target), so a small split
            # still gets its share of a rare label rather than losing it to train.
            by_label = sum(
                n * (1 - placed_labels[split][p] / (share[split] * label_total[p]))
                for p, n in labels.items()
            )
            by_size = 1 - placed_clips[split] / (share[split] * clip_total)
            return by_label / weight + by_size

        split = max(open_splits, key=need)  # ties: the first of train, validation, test
        out[key] = split
        placed_clips[split] += size
        placed_labels[split].update(labels)
    return out


def write_manifest(out: TextIO, ctx: ExportContext) -> Iterator[int]:
    """Pass 1 counts labels per group, pass 2 writes rows; yields progress in clips read
    (pass 2 counts on from the clip total, so the job's total is twice the clip count)."""
    field = ctx.options["group_by"]
    keep_from = ctx.options.get("keep_splits") or None
    earlier = earlier_splits(earlier_manifest(ctx.project, keep_from)) if keep_from else {}
    groups: dict[str, tuple[int, Counter]] = {}
    fixed: dict[str, str] = {}  # a group with a clip in the earlier manifest: its split
    kept = 0
    total = 0
    for seen, batch in clip_batches(ctx):
        for clip in batch:
            labels = clip_consensus(clip, ctx)
            if labels:
                key, _ = _group(clip, field)
                n, counts = groups.get(key, (0, Counter()))
                counts.update(labels)
                groups[key] = (n + 1, counts)
                if clip.pk in earlier:
                    fixed.setdefault(key, earlier[clip.pk])
        total = seen
        yield seen
    assignment = splits_assign(groups, ctx.options["splits"], ctx.options["seed"], fixed)
    sizes = dict.fromkeys(SPLITS, 0)
    jsonl = ctx.options["manifest_format"] == "jsonl"
    writer = None if jsonl else SafeCsvWriter(out)
    if writer:
        writer.writerow(COLUMNS)
    root = ctx.options["audio_root"].rstrip("/")
    for seen, batch in clip_batches(ctx):
        for clip in batch:
            labels = clip_consensus(clip, ctx)
            if not labels:
                continue
            key, group = _group(clip, field)
            # A group first labeled while this export ran was not placed in pass 1.
            split = assignment.setdefault(key, SPLITS[0])
            sizes[split] += 1
            kept += earlier.get(clip.pk) == split
            audio = f"{root}/{clip.file.name}" if root else clip.file.name
            if jsonl:
                row = {
                    "clip_id": clip.pk,
                    "audio": audio,
                    "original_name": clip.original_name,
                    "labels": labels,
                    "split": split,
                    "group": group,
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                labels_text = ";".join(labels)
                writer.writerow([clip.pk, audio, clip.original_name, labels_text, split, group])
        yield total + seen
    group_sizes = Counter(assignment.values())
    ctx.summary = {
        "split_sizes": sizes,
        "split_groups": {s: group_sizes.get(s, 0) for s in SPLITS},
        "group_by": field,
        "seed": ctx.options["seed"],
    }
    if keep_from:
        # Clips of the earlier manifest in this one that kept their split (one whose group
        # holds clips of two earlier splits, after a change of group_by, keeps the first's).
        ctx.summary.update(kept_splits_of=keep_from, clips_kept=kept)


def earlier_manifest(project, job_id: int):
    """The project's finished manifest export `job_id`, whose splits a new one keeps; a 400
    naming what is wrong otherwise."""
    from labelapp.models import ExportJob

    job = ExportJob.objects.filter(pk=job_id, project=project).first()
    if job is None:
        raise DomainError(
            f"option 'keep_splits': this project has no manifest export #{job_id}",
            code="invalid_option",
        )
    if job.format != ExportJob.Format.MANIFEST:
        raise DomainError(
            f"option 'keep_splits': export #{job_id} is a {job.format} export, not a manifest "
            "(only a manifest has splits to keep)",
            code="invalid_option",
        )
    if job.status != ExportJob.Status.DONE or not job.file:
        raise DomainError(
            f"option 'keep_splits': manifest export #{job_id} is {job.status}, not done",
            code="invalid_option",
        )
    if not default_storage.exists(job.file):  # refused now, not in the worker later
        raise DomainError(
            f"option 'keep_splits': the file of manifest export #{job_id} is gone",
            code="invalid_option",
        )
    return job


def earlier_splits(job) -> dict[int, str]:
    """{clip id: split} of an earlier manifest export's file (CSV or JSON lines)."""
    try:
        with default_storage.open(job.file, "rb") as fh:
            text = fh.read().decode("utf-8")
    except OSError:
        raise DomainError(
            f"option 'keep_splits': the file of manifest export #{job.pk} is gone",
            code="invalid_option",
        ) from None
    if job.options.get("manifest_format") == "jsonl":
        rows = (json.loads(line) for line in text.splitlines() if line.strip())
    else:
        rows = csv.DictReader(io.StringIO(text))
    out: dict[int, str] = {}
    for row in rows:
        try:
            clip_id = int(row["clip_id"])
        except (KeyError, TypeError, ValueError):
            continue
        if row.get("split") in SPLITS:
            out[clip_id] = row["split"]
    return out
