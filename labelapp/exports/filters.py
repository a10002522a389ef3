"""Which annotations an export takes: a filter dict (API body, job row, command options)
checked once into an `ExportFilters`, then turned into querysets.

Filters select annotations; a clip is exported when at least one of its annotations passes
(with no annotation filter at all, every clip is, labeled or not). Bad input raises
DomainError with a message that names the filter and what it accepts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from labelapp.errors import DomainError
from labelapp.models import Annotation, Clip, ClipLabel, Project, SegmentLabel
from ontology.services import label_resolve
from ontology.tree import LabelNode, LabelTree, tree_for_ontology_id

FILTER_KEYS = ("status", "label", "annotator", "since", "until", "agreement")
AGREEMENT = ("agree", "disagree")


@dataclass(frozen=True)
class ExportFilters:
    statuses: tuple[str, ...] = ()
    # The labels asked for plus their descendants: a child implies its ancestors.
    label_ids: tuple[int, ...] = ()
    annotator_ids: tuple[int, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive
    agreement: str = ""
    # The same filters as plain JSON, as stored on the job and shown back to people.
    normalized: dict = field(default_factory=dict)

    @property
    def on_annotations(self) -> bool:
        return bool(self.normalized)


def _as_list(value, *, split: bool = True) -> list:
    """A filter's values: a list, or one value (comma-separated where names have no commas)."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v not in (None, "")]
    if isinstance(value, str):
        parts = value.split(",") if split else [value]
        return [v.strip() for v in parts if v.strip()]
    return [value]


def _when(value, key: str, *, end: bool) -> dt.datetime:
    """A date (whole day: `until` takes the day in) or an ISO datetime, made aware."""
    text = str(value).strip()
    try:
        # A date first: parse_datetime would take "2024-01-10" as its midnight.
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        day = moment = None
    if day is not None:
        moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time())
    elif moment is None:
        raise DomainError(
            f"filter {key!r}: {text!r} is not a date (YYYY-MM-DD) or an ISO datetime",
            code="invalid_filter",
        )
    elif end:
        moment += dt.timedelta(microseconds=1)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _labels(project: Project, tree: LabelTree, refs: list) -> tuple[list[LabelNode], list[int]]:
    asked, ids = [], []
    for ref in refs:
        node = None
        if isinstance(ref, int) and not isinstance(ref, bool):
            node = tree.nodes.get(ref)
        else:
            node = tree.by_path(str(ref))
            if node is None:  # a bare name, or a path from before a rename: as labels are named
                try:
                    label = label_resolve(ontology=project.ontology, ref=str(ref))
                except DomainError as exc:
                    if exc.code == "ambiguous_label":
                        raise DomainError(
                            f"filter 'label': {exc.message}", code="invalid_filter"
                        ) from None
                else:
                    node = tree.nodes.get(label.pk)
        if node is None:
            raise DomainError(
                f"filter 'label': no label {ref!r} in this project's label tree",
                code="invalid_filter",
            )
        asked.append(node)
        ids.extend([node.id, *(d.id for d in tree.descendants(node.id))])
    return asked, ids


def _annotator_users(project: Project) -> QuerySet:
    """Whose annotations an export can select: the members, anyone who annotated a clip of the
    project (a member removed since: their work is still exported) and the importer."""
    annotated = Annotation.objects.filter(clip__project=project, annotator=OuterRef("pk"))
    return get_user_model().objects.filter(
        Q(memberships__project=project)
        | Q(Exists(annotated))
        | Q(username=settings.EARMARK_SYSTEM_USERNAME)
    )


def export_annotator_choices(project: Project) -> list[tuple[str, str]]:
    """(username, what they are here) for the exports page's annotator filter: a member's role,
    "former member" for someone who annotated and has left. The importer is left out."""
    roles = dict(project.memberships.values_list("user__username", "role"))
    names = (
        _annotator_users(project)
        .exclude(username=settings.EARMARK_SYSTEM_USERNAME)
        .order_by("username")
        .values_list("username", flat=True)
        .distinct()
    )
    return [(name, roles.get(name, "former member")) for name in names]


def _annotators(project: Project, names: list) -> list[int]:
    users = _annotator_users(project)
    found = dict(users.filter(username__in=[str(n) for n in names]).values_list("username", "pk"))
    for name in names:
        if str(name) not in found:
            raise DomainError(
                f"filter 'annotator': nobody named {str(name)!r} is a member of this project "
                "or has annotated it",
                code="invalid_filter",
            )
    return sorted(set(found.values()))


def export_filters_build(project: Project, raw: dict | None) -> ExportFilters:
    """Check a filter dict against the project: statuses, label paths (or ids), annotators'
    usernames, `since`/`until` dates, and `agreement` with the active model."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DomainError("filters must be an object", code="invalid_filter")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise DomainError(
            f"unknown filter {unknown[0]!r}; filters are: {', '.join(FILTER_KEYS)}",
            code="invalid_filter",
        )
    normalized: dict = {}
    statuses = [str(s).lower() for s in _as_list(raw.get("status"))]
    for status in statuses:
        if status not in Annotation.Status.values:
            raise DomainError(
                f"filter 'status': unknown status {status!r}; one of "
                + ", ".join(Annotation.Status.values),
                code="invalid_filter",
            )
    if statuses:
        normalized["status"] = sorted(set(statuses))
    label_ids: list[int] = []
    label_refs = _as_list(raw.get("label"), split=False)
    if label_refs:
        asked, label_ids = _labels(project, tree_for_ontology_id(project.ontology_id), label_refs)
        normalized["label"] = [n.path for n in asked]
    annotator_ids: list[int] = []
    names = _as_list(raw.get("annotator"))
    if names:
        annotator_ids = _annotators(project, names)
        normalized["annotator"] = sorted({str(n) for n in names})
    since = until = None
    if raw.get("since") not in (None, ""):
        since = _when(raw["since"], "since", end=False)
        normalized["since"] = str(raw["since"]).strip()
    if raw.get("until") not in (None, ""):
        until = _when(raw["until"], "until", end=True)
        normalized["until"] = str(raw["until"]).strip()
    if since and until and since >= until:
        raise DomainError("filter 'since' must be before 'until'", code="invalid_filter")
    agreement = str(raw.get("agreement") or "").strip().lower()
    if agreement:
        if agreement not in AGREEMENT:
            raise DomainError(
                f"filter 'agreement': {agreement!r} is neither 'agree' nor 'disagree'",
                code="invalid_filter",
            )
        from ml_backend.selectors import active_model_version

        if active_model_version(project) is None:
            raise DomainError(
                "filter 'agreement' compares annotations with the active model's predictions, "
                "and this project has no active model yet",
                code="invalid_filter",
            )
        normalized["agreement"] = agreement
    return ExportFilters(
        statuses=tuple(sorted(set(statuses))),
        label_ids=tuple(sorted(set(label_ids))),
        annotator_ids=tuple(annotator_ids),
        since=since,
        until=until,
        agreement=agreement,
        normalized=normalized,
    )


def giving_labels(label_ids) -> Q:
    """Annotations that give one of `label_ids`, to the clip or to a segment. Exists, not
    joins: a clip label and two segments with the label would give three rows."""
    on_clip = ClipLabel.objects.filter(annotation=OuterRef("pk"), label_id__in=label_ids)
    on_segment = SegmentLabel.objects.filter(
        segment__annotation=OuterRef("pk"), label_id__in=label_ids
    )
    return Q(Exists(on_clip)) | Q(Exists(on_segment))


def annotations_filtered(filters: ExportFilters) -> QuerySet[Annotation]:
    """Annotations passing every database-side filter (agreement is checked per clip)."""
    qs = Annotation.objects.all()
    if filters.statuses:
        qs = qs.filter(status__in=filters.statuses)
    if filters.annotator_ids:
        qs = qs.filter(annotator_id__in=filters.annotator_ids)
    if filters.since:
        qs = qs.filter(updated_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(updated_at__lt=filters.until)
    if filters.label_ids:
        qs = qs.filter(giving_labels(filters.label_ids))
    if filters.agreement:
        qs = qs.exclude(status=Annotation.Status.SKIPPED)
    return qs


def clips_filtered(project: Project, filters: ExportFilters) -> QuerySet[Clip]:
    qs = Clip.objects.filter(project=project)
    if filters.on_annotations:
        qs = qs.filter(Exists(annotations_filtered(filters).filter(clip=OuterRef("pk"))))
    return qs.order_by("id")


def annotation_agrees(annotation_paths: list[str], predicted_path: str | None) -> bool | None:
    """Whether an annotation agrees with the model's top label: it does when it names that
    label or a descendant of it (a child implies its ancestors). None when there is nothing
    to compare (no prediction, or an annotation without labels)."""
    if predicted_path is None or not annotation_paths:
        return None
    implied = set()
    for path in annotation_paths:
        parts = path.lower().split("/")
        implied.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return predicted_path.lower() in implied
