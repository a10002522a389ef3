"""What every export format shares: the options it takes, the clips it reads (in chunks,
prefetched per chunk), and the plain-data views of annotations and predictions."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Prefetch, Subquery

from labelapp.errors import DomainError
from labelapp.exports.filters import (
    ExportFilters,
    annotation_agrees,
    annotations_filtered,
    clips_filtered,
)
from labelapp.lookups import plain_int
from labelapp.models import (
    Annotation,
    AnnotationRevision,
    Clip,
    ClipLabel,
    Project,
    Segment,
    SegmentLabel,
)
from ontology.tree import LabelTree, tree_for_ontology_id

# Clips per query batch: each batch is one clip query plus one query per prefetched
# relation, and one progress write of the job row.
CHUNK = 200

SPLITS = ("train", "validation", "test")
DEFAULT_SPLITS = (0.8, 0.1, 0.1)

# Options each format takes, with their defaults; anything else is refused by name.
OPTIONS: dict[str, dict] = {
    "earmark": {"predictions": "all", "revisions": True},
    "label_studio": {"base_url": "", "clip_labels": "taxonomy", "predictions": "active"},
    "csv": {},
    "raven": {},
    "manifest": {
        "group_by": "",
        "splits": list(DEFAULT_SPLITS),
        "seed": 0,
        "manifest_format": "csv",
        "audio_root": "",
        "keep_splits": "",
    },
}
PREDICTION_CHOICES = ("all", "active", "none")


def bool_option(value, key: str) -> bool:
    """A true/false request option (1/0, yes/no, on/off; empty is false): 400 otherwise."""
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise DomainError(f"option {key!r} must be true or false, not {value!r}", code="invalid_option")


def _choice(value, key: str, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise DomainError(
            f"option {key!r}: {value!r} is not one of {', '.join(choices)}", code="invalid_option"
        )
    return text


def _splits(value) -> list[float]:
    parts = value.split(",") if isinstance(value, str) else value
    try:
        ratios = [float(p) for p in parts]
    except (TypeError, ValueError):
        ratios = []
    if len(ratios) != 3 or any(r < 0 or r != r for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise DomainError(
            f"option 'splits': give three fractions for {', '.join(SPLITS)} that add up to 1 "
            f"(e.g. 0.8,0.1,0.1), not {value!r}",
            code="invalid_option",
        )
    return ratios


def export_options_build(format: str, raw: dict | None) -> dict:
    """A format's options, checked, with defaults filled in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DomainError("options must be an object", code="invalid_option")
    allowed = OPTIONS[format]
    unknown = sorted(k for k, v in raw.items() if k not in allowed and v not in (None, ""))
    if unknown:
        what = ", ".join(allowed) if allowed else "none"
        raise DomainError(
            f"option {unknown[0]!r} does not apply to {format} exports (options: {what})",
            code="invalid_option",
        )
    options = dict(allowed)
    options.update({k: v for k, v in raw.items() if k in allowed and v is not None})
    if "predictions" in options:
        options["predictions"] = _choice(options["predictions"], "predictions", PREDICTION_CHOICES)
    if "revisions" in options:
        options["revisions"] = bool_option(options["revisions"], "revisions")
    if "clip_labels" in options:
        options["clip_labels"] = _choice(
            options["clip_labels"], "clip_labels", ("taxonomy", "choices")
        )
    if options.get("base_url"):
        base = str(options["base_url"]).strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise DomainError(
                f"option 'base_url' must start with http:// or https://, not {base!r}",
                code="invalid_option",
            )
        options["base_url"] = base
    if format == "manifest":
        options["splits"] = _splits(options["splits"])
        options["seed"] = _integer(options["seed"], "seed")
        options["manifest_format"] = _choice(
            options["manifest_format"], "manifest_format", ("csv", "jsonl")
        )
        options["group_by"] = str(options["group_by"] or "").strip()
        options["audio_root"] = str(options["audio_root"] or "").strip()
        keep = "" if options["keep_splits"] is None else str(options["keep_splits"]).strip()
        if keep and (plain_int(keep) or 0) < 1:
            raise DomainError(
                "option 'keep_splits': give the id of an earlier manifest export of this "
                f"project, not {options['keep_splits']!r}",
                code="invalid_option",
            )
        options["keep_splits"] = int(keep) if keep else ""
    return options


def _integer(value, name: str) -> int:
    """A whole number given as a JSON number or as text: 1.7 or "1.7" is refused, not cut to 1
    (the same seed must always give the same split, and 1.7 would give 1's)."""
    if isinstance(value, bool):
        value = None
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        value = int(text) if digits.isascii() and digits.isdigit() else None
    if not isinstance(value, int):
        raise DomainError(f"option {name!r} must be a whole number", code="invalid_option")
    return value


@dataclass
class ExportContext:
    """One export's settings, read once: the project, its checked filters and options, the
    label tree and the active model version."""

    project: Project
    filters: ExportFilters
    options: dict
    tree: LabelTree = None  # type: ignore[assignment]
    active_version: object = None
    # What the writer reports when it is done (e.g. split sizes); stored on the job.
    summary: dict = field(default_factory=dict)
    # What the reading of the clips reports beside it (what the agreement filter compared).
    summary_extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ml_backend.selectors import active_model_version

        if self.tree is None:
            self.tree = tree_for_ontology_id(self.project.ontology_id)
        self.active_version = active_model_version(self.project)

    def clip_count(self) -> int:
        return clips_filtered(self.project, self.filters).count()


def _annotations_prefetch(ctx: ExportContext, revisions: bool) -> Prefetch:
    # Lists (`to_attr`) at every level: Django then skips building a queryset per instance,
    # which was half the time of an export.
    # Whether its labels are a reviewer's: the last revision that wrote them is a correction
    # (an annotator who submitted again after one wrote their own).
    from labelapp.services.review import last_write

    written = last_write()
    qs = (
        annotations_filtered(ctx.filters)
        .annotate(
            export_last_write=Subquery(written.values("action")[:1]),
            export_last_writer=Subquery(written.values("author__username")[:1]),
        )
        .select_related("annotator", "reviewed_by")
        .prefetch_related(
            Prefetch(
                "clip_labels",
                queryset=ClipLabel.objects.select_related("label").order_by("label__path"),
                to_attr="export_clip_labels",
            ),
            Prefetch(
                "segments",
                queryset=Segment.objects.order_by("start", "end", "id").prefetch_related(
                    Prefetch(
                        "segment_labels",
                        queryset=SegmentLabel.objects.select_related("label").order_by(
                            "label__path"
                        ),
                        to_attr="export_labels",
                    )
                ),
                to_attr="export_segments",
            ),
        )
        .order_by("id")
    )
    if revisions:
        qs = qs.prefetch_related(
            Prefetch(
                "revisions",
                queryset=AnnotationRevision.objects.select_related("author").order_by("version"),
                to_attr="export_revisions",
            )
        )
    return Prefetch("annotations", queryset=qs, to_attr="export_annotations")


def _predictions_prefetch(ctx: ExportContext, which: str) -> Prefetch | None:
    from ml_backend.models import ModelVersion, Prediction

    qs = Prediction.objects.select_related("model_version").order_by("-model_version__version")
    if which == "none" and ctx.filters.agreement:
        # Every prediction of the project's own models (`_keep_by_agreement` takes the active
        # version's, else the latest made): a labeled clip is not scored again by later
        # versions, so the active one's alone left every clip labeled before it out (a filter
        # of 41 labeled clips kept none after a training).
        qs = qs.exclude(
            model_version__status__in=[ModelVersion.Status.FAILED, ModelVersion.Status.EXTERNAL]
        )
    elif which == "active":
        if ctx.active_version is None:
            return None
        qs = qs.filter(model_version=ctx.active_version)
    elif which == "all":
        qs = qs.exclude(model_version__status=ModelVersion.Status.FAILED)
    else:
        return None
    return Prefetch("predictions", queryset=qs, to_attr="export_predictions")


def _pages_by_id(qs) -> Iterator[Clip]:
    """The clips of `qs` (ordered by id) read CHUNK at a time, each page's query done before
    its clips are handed on."""
    last = 0
    while True:
        page = list(qs.filter(pk__gt=last)[:CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        last = page[-1].pk


def clip_batches(
    ctx: ExportContext, *, predictions: str = "none", revisions: bool = False
) -> Iterator[tuple[int, list[Clip]]]:
    """(clips read so far, the clips of this batch that pass every filter), batch by batch.

    Each clip carries `export_annotations` (those passing the filters) and
    `export_predictions`. Clips are read a page of CHUNK at a time, by id (the filtered
    queryset's order), with their relations prefetched per page: memory stays bounded by
    CHUNK clips, and no read is left open while the caller writes its progress. (Streamed from
    one open cursor, on SQLite the job's own progress write failed at once, "database is
    locked", whenever another connection had written since the cursor opened: an annotator's
    autosave was enough.)"""
    prefetches = [_annotations_prefetch(ctx, revisions)]
    pred = _predictions_prefetch(ctx, predictions)
    if pred is not None:
        prefetches.append(pred)
    qs = clips_filtered(ctx.project, ctx.filters).prefetch_related(*prefetches)
    seen = 0
    batch: list[Clip] = []
    for clip in _pages_by_id(qs):
        seen += 1
        if not hasattr(clip, "export_predictions"):
            clip.export_predictions = []
        if ctx.filters.agreement:
            _keep_by_agreement(ctx, clip)
        if not ctx.filters.on_annotations or clip.export_annotations:
            batch.append(clip)
        if seen % CHUNK == 0:
            yield seen, batch
            batch = []
    if batch or seen % CHUNK:
        yield seen, batch


def _keep_by_agreement(ctx: ExportContext, clip: Clip) -> None:
    """Keep the annotations that agree (or disagree) with the clip's newest prediction: the
    active version's, or for a clip labeled before it, the last version that scored it. What
    each was compared with is counted in the export's summary (`agreement`)."""
    own = [
        p for p in clip.export_predictions if p.model_version.status not in ("external", "failed")
    ]
    # The active version's, else the latest made (whatever order the writer read them in).
    newest = min(
        own,
        key=lambda p: (p.model_version.status != "active", -p.created_at.timestamp(), -p.pk),
        default=None,
    )
    top = top_label(newest, ctx.tree) if newest is not None else None
    predicted = top[0] if top else None
    want = ctx.filters.agreement == "agree"
    counts = ctx.summary_extra.setdefault(
        "agreement", {"compared_with": {}, "without_prediction": 0}
    )
    kept = []
    for annotation in clip.export_annotations:
        clip_paths, segments = annotation_content(annotation)
        paths = clip_paths or sorted({p for s in segments for p in s["labels"]})
        verdict = annotation_agrees(paths, predicted)
        if verdict is None:
            counts["without_prediction"] += 1
            continue
        name = newest.model_version.name
        counts["compared_with"][name] = counts["compared_with"].get(name, 0) + 1
        if verdict == want:
            kept.append(annotation)
    clip.export_annotations = kept


def annotation_content(annotation: Annotation) -> tuple[list[str], list[dict]]:
    """(clip label paths, segments) of an annotation, from what was prefetched."""
    clip_labels = [cl.label.path for cl in annotation.export_clip_labels]
    segments = [
        {
            "id": s.pk,
            "start": s.start,
            "end": s.end,
            "channel": s.channel,
            "low_freq": s.low_freq,
            "high_freq": s.high_freq,
            "labels": [sl.label.path for sl in s.export_labels],
        }
        for s in annotation.export_segments
    ]
    return clip_labels, segments


def prediction_content(prediction, tree: LabelTree) -> dict:
    """A prediction with label paths instead of ids; labels since deleted are left out."""
    scores = []
    for key, score in (prediction.clip_scores or {}).items():
        node = tree.nodes.get(int(key))
        if node is not None:
            scores.append((node.path, float(score)))
    scores.sort(key=lambda kv: (-kv[1], kv[0]))
    segments = []
    for seg in prediction.segments or []:
        node = tree.nodes.get(int(seg.get("label", -1)))
        if node is None:
            continue
        segments.append(
            {
                "start": float(seg["start"]),
                "end": float(seg["end"]),
                "channel": seg.get("channel"),
                "label": node.path,
                "score": None if seg.get("score") is None else float(seg["score"]),
            }
        )
    mv = prediction.model_version
    return {
        "model_version": mv.name,
        "model_version_id": mv.pk,
        "model_version_number": mv.version,
        "model_version_status": mv.status,
        "score": prediction.score,
        "uncertainty": prediction.uncertainty,
        "clip_scores": dict(scores),
        "segments": segments,
        "created_at": prediction.created_at.isoformat(),
    }


def top_label(prediction, tree: LabelTree) -> tuple[str, float] | None:
    """The model's best clip label (path, score), or None when it scored none."""
    scored = [
        (-float(score), tree.nodes[int(key)].path)
        for key, score in (prediction.clip_scores or {}).items()
        if int(key) in tree.nodes
    ]
    if not scored:
        return None
    neg_score, path = min(scored)
    return path, -neg_score


def user_name(user) -> str | None:
    return None if user is None else user.get_username()


def iso(value) -> str | None:
    return None if value is None else value.isoformat()


# A cell a spreadsheet would run as a formula: a clip named "=HYPERLINK(...)" or a label
# "=2+3" from a third party's dataset. OWASP's advice: such a cell starts with a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """`csv.writer` (lines end in \\n) whose text cells never start a formula."""

    def __init__(self, out) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row) -> None:
        self._writer.writerow([spreadsheet_safe(v) for v in row])


def review_of(annotation: Annotation) -> tuple[str | None, str | None]:
    """(who reviewed it last, who wrote the correction its labels are, if they are one) as
    exports say it: a lead who accepted a reviewer's correction is the one who reviewed it,
    the reviewer the one who corrected it; nobody for an annotation submitted again since
    (the review was of an earlier version)."""
    reviewed = annotation.status in (Annotation.Status.ACCEPTED, Annotation.Status.REJECTED)
    if not reviewed:
        return None, None
    from labelapp.services.review import Action

    corrected = getattr(annotation, "export_last_write", None) == Action.CORRECT
    writer = getattr(annotation, "export_last_writer", None) if corrected else None
    return user_name(annotation.reviewed_by), writer


def wanted_paths(ctx: ExportContext) -> set[str] | None:
    """The paths of the filter's labels and their children; None without a label filter."""
    if not ctx.filters.label_ids:
        return None
    nodes = (ctx.tree.nodes.get(i) for i in ctx.filters.label_ids)
    return {node.path for node in nodes if node is not None}
