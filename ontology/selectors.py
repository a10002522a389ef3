"""Reads of the label tree: one label of a project, usage counts, the change log."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet

from labelapp.errors import NotFound
from labelapp.models import ClipLabel, Project, SegmentLabel
from ontology.models import Label, Ontology, OntologyChange
from ontology.rules import deprecated_ancestor


def label_for_project(project: Project, label_id) -> Label:
    """A label of the project's ontology; anything else is 404 (ids of other trees included)."""
    try:
        return Label.objects.select_related("ontology", "parent").get(
            pk=int(label_id), ontology_id=project.ontology_id
        )
    except (Label.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"label {label_id} not found in this project's ontology") from None


def label_usage_counts(label_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{label id: {"clip": n, "segment": n}} over every annotation of every project."""
    ids = list(label_ids)
    out = {pk: {"clip": 0, "segment": 0} for pk in ids}
    for kind, model in (("clip", ClipLabel), ("segment", SegmentLabel)):
        rows = (
            model.objects.filter(label_id__in=ids)
            .values("label_id")
            .annotate(n=Count("id"))
            .values_list("label_id", "n")
        )
        for label_id, n in rows:
            out[label_id][kind] = n
    return out


def ontology_usage_counts(ontology: Ontology) -> dict[int, dict[str, int]]:
    """Usage of every label of an ontology: two GROUP BY queries, whatever the tree's size."""
    out: dict[int, dict[str, int]] = {}
    for kind, model in (("clip", ClipLabel), ("segment", SegmentLabel)):
        rows = (
            model.objects.filter(label__ontology=ontology)
            .values("label_id")
            .annotate(n=Count("id"))
            .values_list("label_id", "n")
        )
        for label_id, n in rows:
            out.setdefault(label_id, {"clip": 0, "segment": 0})[kind] = n
    return out


def ontology_changes(ontology: Ontology) -> QuerySet[OntologyChange]:
    """The change log, newest first; a merge's undo record is not read, only whether it has one."""
    return (
        ontology.changes.select_related("user")
        .defer("undo")
        .annotate(has_undo=ExpressionWrapper(Q(undo__isnull=False), output_field=BooleanField()))
        .order_by("-version", "-id")
    )


def gone_label_names(ontology_id: int, ids: Iterable[int]) -> dict[int, str]:
    """Names for labels no longer in the tree, from the change log: "digit/six (merged into
    digit/seven)", "noise (deleted)", a label deleted under a deleted parent too. A model's
    classes outlive them: its confusion matrix called them "#8"."""
    want = set(ids)
    out: dict[int, str] = {}
    merged: dict[int, tuple[int, str, str]] = {}  # source: (target, source path, target path)
    changes = OntologyChange.objects.filter(
        ontology_id=ontology_id, action__in=("merge", "delete")
    ).order_by("version", "id")
    for action, details in changes.values_list("action", "details"):
        if not isinstance(details, dict):
            continue
        if action == "merge" and not details.get("undone_by"):
            merged[details.get("source")] = (
                details.get("target"),
                details.get("source_path"),
                details.get("target_path"),
            )
        elif action == "delete":
            named = {details.get("label"): details.get("path")}
            named |= {int(i): p for i, p in (details.get("paths") or {}).items()}
            out |= {i: f"{p} (deleted)" for i, p in named.items() if i in want}
    # Where a merged class is now: its target's path today, through later merges and renames
    # (it named the target as it was, which may be gone or renamed since).
    targets = {t for t, _, _ in merged.values()}
    today = dict(
        Label.objects.filter(ontology_id=ontology_id, pk__in=targets).values_list("pk", "path")
    )
    for source in want & set(merged):
        target, source_path, target_path = merged[source]
        seen = {source}
        while target not in today and target in merged and target not in seen:
            seen.add(target)
            target, _, target_path = merged[target]
        now = today.get(target)
        out[source] = (
            f"{source_path} (merged into {now})"
            if now
            else f"{source_path} (merged into {target_path}, since gone)"
        )
    return out


def placement_warnings(project: Project, label: Label) -> list[str]:
    """What a label added or moved should know of where it is: under a deprecated label it
    cannot be chosen (it was added with no word), and `first_kind_warnings`."""
    above = deprecated_ancestor(label)
    out = (
        [
            f"{label.path} is under the deprecated {above.path}: annotators cannot choose it "
            f"until {above.path} is restored"
        ]
        if above is not None
        else []
    )
    return out + first_kind_warnings(project, label)


def first_kind_warnings(project: Project, label: Label) -> list[str]:
    """A leaves-only project's leaf in use that gets its first kind: its annotations keep it,
    but it cannot be chosen anew, and the model stops suggesting it (splitting a class was
    said as "Added ...", then the workspace's top suggestion could not be saved)."""
    if not project.leaves_only or label.parent_id is None:
        return []
    parent = label.parent
    if parent.children.count() != 1:
        return []
    used = sum(label_usage_counts([parent.pk])[parent.pk].values())
    if not used:
        return []
    uses = "1 use" if used == 1 else f"{used} uses"
    return [
        f"{parent.path} was a leaf in use ({uses}): its annotations keep it, but this project "
        "takes leaves, so new work chooses one of its kinds and the model no longer suggests "
        "it; train again once its kinds have labels."
    ]
