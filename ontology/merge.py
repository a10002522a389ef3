"""Merging labels: every use of the source becomes a use of the target, nothing is lost.

Set-based on purpose: a merge of a label used by 10,000 annotations is a handful of UPDATE and
DELETE statements in one transaction, not 10,000 row-by-row rewrites.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from labelapp.errors import DomainError
from labelapp.models import ClipEvent, ClipLabel, SegmentLabel
from ontology.models import PATH_SEPARATOR, Label, Ontology, OntologyChange
from ontology.rules import deprecated_ancestor, is_same_or_descendant, name_key
from ontology.services import (
    _label_fresh,
    _ontology_lock,
    _siblings_renumber,
    _subtree_repath,
    ontology_bump,
)
from ontology.unmerge import merge_undo_record


@transaction.atomic
def label_merge(*, source: Label, target: Label, user=None) -> dict:
    """Merge `source` into `target`: annotations, segments and predictions that used `source`
    use `target` (an annotation that had both keeps one), `source`'s children move under
    `target`, and `source` is deleted. Returns the counts of what changed."""
    if source.ontology_id != target.ontology_id:
        raise DomainError(
            f"cannot merge {source.path!r} into {target.path!r}: they belong to different "
            "ontologies",
            code="unknown_label",
            extra={"label": target.path},
        )
    ontology = _ontology_lock(source.ontology_id)
    source, target = _label_fresh(source), _label_fresh(target)
    if source.pk == target.pk:
        raise DomainError(
            f"cannot merge label {source.path!r} into itself",
            code="invalid",
            extra={"label": source.path},
        )
    if is_same_or_descendant(target, source):
        raise DomainError(
            f"cannot merge label {source.path!r} into its own descendant {target.path!r}",
            code="cycle",
            extra={"label": source.path},
        )
    if target.deprecated and not source.deprecated:
        # Its uses would carry a label no one can choose: an open workspace picking the
        # source got "label ... is deprecated" naming a label the annotator never picked.
        raise DomainError(
            f"cannot merge {source.path!r} into {target.path!r}: {target.path!r} is deprecated "
            "and cannot be chosen; restore it first, or merge into another label",
            code="deprecated",
            extra={"label": target.path},
        )
    retired_above = deprecated_ancestor(target)
    if retired_above is not None and not source.deprecated:
        # Under a deprecated label the target cannot be chosen either (it was merged into).
        raise DomainError(
            f"cannot merge {source.path!r} into {target.path!r}: it is under the deprecated "
            f"{retired_above.path!r} and cannot be chosen; restore that first, or merge into "
            "another label",
            code="deprecated",
            extra={"label": target.path},
        )
    children = list(source.children.all())
    target_names = {
        name_key(name): name
        for name in target.children.exclude(pk=source.pk).values_list("name", flat=True)
    }
    for child in children:
        if name_key(child.name) in target_names:
            raise DomainError(
                f"cannot merge {source.path!r} into {target.path!r}: its child {child.path!r} "
                f"would collide with {target.path}{PATH_SEPARATOR}"
                f"{target_names[name_key(child.name)]}; merge or rename that child first",
                code="duplicate_label",
                extra={"label": child.path},
            )

    undo = merge_undo_record(source, target, children)
    touched = clips_using(source)
    counts = _annotations_relabel(source, target)
    clips_note_label_change(
        touched, ClipEvent.Action.LABEL_MERGED, f"{source.path} merged into {target.path}", user
    )
    predictions_relabel_soon(ontology=ontology, mapping={source.pk: target.pk})
    for child in children:
        _subtree_repath(child, f"{target.path}{PATH_SEPARATOR}{child.name}", target.depth + 1)
        child.parent = target
        child.order = child.order + 10**6  # after the target's own children, in their order
        child.save(update_fields=["parent", "path", "depth", "order"])
    counts["children_moved"] = len(children)
    source_path, source_pk, source_hotkey = source.path, source.pk, source.hotkey
    source_color = source.color
    source.delete()
    kept = []
    if source_hotkey and not target.hotkey:
        # The source's hotkey is freed by the delete: keep annotators' muscle memory working.
        target.hotkey = source_hotkey
        kept.append("hotkey")
    if source_color and not target.color:  # and the colour they know its segments by
        target.color = source_color
        kept.append("color")
    if kept:
        target.save(update_fields=kept)
    if children:
        _siblings_renumber(target.ontology_id, target.pk)
    change = ontology_bump(
        ontology=ontology,
        user=user,
        action="merge",
        details={
            "source": source_pk,
            "source_path": source_path,
            "target": target.pk,
            "target_path": target.path,
            **counts,
            "kept": kept,
        },
        undo=undo,
    )
    return {
        "warnings": _leaf_warnings(target) if counts["annotations_changed"] else [],
        "change": change.pk,
        "undoable": undo is not None,
        "source": source_pk,
        "source_path": source_path,
        "target": target.pk,
        "target_path": target.path,
        **counts,
        "version": ontology.version,
    }


def clips_using(label: Label) -> set[int]:
    """The clips whose annotations use `label`, on the clip or on a segment."""
    return set(
        ClipLabel.objects.filter(label=label).values_list("annotation__clip_id", flat=True)
    ) | set(
        SegmentLabel.objects.filter(label=label).values_list(
            "segment__annotation__clip_id", flat=True
        )
    )


def clips_note_label_change(clip_ids, action: str, note: str, user=None) -> None:
    """A line in each clip's history for a label-tree change that rewrote its annotations
    (a merge changed them with no word there: who, when, what)."""
    author = user if getattr(user, "is_authenticated", False) else None
    ClipEvent.objects.bulk_create(
        (
            ClipEvent(clip_id=cid, author=author, action=action, note=note[:1000])
            for cid in sorted(clip_ids)
        ),
        batch_size=2000,
    )


COUNTED = (
    "annotations_changed",
    "clip_labels_moved",
    "clip_labels_deduplicated",
    "segment_labels_moved",
    "segment_labels_deduplicated",
)


@transaction.atomic
def label_merge_deep(*, source: Label, target: Label, user=None) -> dict:
    """`label_merge`, where a child of `source` named as a child of `target` is merged into
    it first (and so on down): "finch" into "sparrow" when both have song, call and alarm.
    Without it each of those children had to be merged by hand, bottom up. Each merge is its
    own change-log entry (undone newest first). The answer is the top merge's, with the
    counts summed and `children_merged` listing the paths merged on the way."""
    _ontology_lock(source.ontology_id)
    source, target = _label_fresh(source), _label_fresh(target)
    if source.pk == target.pk or is_same_or_descendant(target, source):
        label_merge(source=source, target=target, user=user)  # raises, saying why
    merged: list[str] = []
    changes: list[int] = []  # the merges on the way, as made
    sums = dict.fromkeys(COUNTED, 0)
    twins = {name_key(child.name): child for child in target.children.exclude(pk=source.pk)}
    for child in list(source.children.all()):
        twin = twins.get(name_key(child.name))
        if twin is None:
            continue
        out = label_merge_deep(source=child, target=twin, user=user)
        merged += [out["source_path"], *out["children_merged"]]
        changes += [*out.get("children_changes", []), out["change"]]
        for key in COUNTED:
            sums[key] += out[key]
    out = label_merge(source=_label_fresh(source), target=_label_fresh(target), user=user)
    for key in COUNTED:
        out[key] += sums[key]
    out["children_merged"] = merged
    if changes:
        # One click, one undo: undoing the top merge undoes these too (it brought back the
        # parent alone, its children left merged, and said nothing). Its entry counts what
        # the whole merge changed ("0 annotations" it said of four); theirs name it.
        top = OntologyChange.objects.get(pk=out["change"])
        top.details = {
            **top.details,
            **{key: out[key] for key in COUNTED},
            "children_changes": changes,
        }
        top.save(update_fields=["details"])
        for child in OntologyChange.objects.filter(pk__in=changes):
            child.details = {**child.details, "part_of": top.pk}
            child.save(update_fields=["details"])
        out["children_changes"] = changes
    return out


def _leaf_warnings(target: Label) -> list[str]:
    """Merging into a label with children is allowed, but leaves-only projects should know."""
    if not target.children.exists():
        return []
    strict = list(
        target.ontology.projects.live().filter(leaves_only=True).values_list("name", flat=True)
    )
    return [
        f"project {name!r} takes leaves only, and {target.path!r} has children: its merged "
        "annotations now use a label that is not a leaf"
        for name in strict
    ]


def _annotations_relabel(source: Label, target: Label) -> dict:
    # A UNION of the two index lookups: scanning every annotation would cost far more.
    annotations_changed = (
        ClipLabel.objects.filter(label=source)
        .values_list("annotation_id")
        .union(SegmentLabel.objects.filter(label=source).values_list("segment__annotation_id"))
        .count()
    )
    clip_rows = ClipLabel.objects.filter(label=source)
    clip_dupes = clip_rows.filter(
        Exists(ClipLabel.objects.filter(annotation=OuterRef("annotation"), label=target))
    )
    clip_duplicates = clip_dupes.count()
    clip_dupes.delete()
    clip_moved = clip_rows.update(label=target)

    seg_rows = SegmentLabel.objects.filter(label=source)
    seg_dupes = seg_rows.filter(
        Exists(SegmentLabel.objects.filter(segment=OuterRef("segment"), label=target))
    )
    seg_duplicates = seg_dupes.count()
    seg_dupes.delete()
    seg_moved = seg_rows.update(label=target)
    return {
        "annotations_changed": annotations_changed,
        "clip_labels_moved": clip_moved,
        "clip_labels_deduplicated": clip_duplicates,
        "segment_labels_moved": seg_moved,
        "segment_labels_deduplicated": seg_duplicates,
    }


def labels_now(*, ontology: Ontology, ids: list[int]) -> list[int | None]:
    """Each label id as the tree has it now: itself, or the label it was merged into
    (following merges of merges), or None when it was deleted. A model version names the
    labels it was trained on; what it predicts after a merge or a delete is said in today's
    labels, as the stored predictions were rewritten."""
    alive = set(
        Label.objects.filter(ontology=ontology, pk__in=list(ids)).values_list("pk", flat=True)
    )
    if all(i in alive for i in ids):
        return list(ids)
    into = {}
    merges = OntologyChange.objects.filter(ontology=ontology, action="merge").order_by(
        "version", "id"
    )
    for details in merges.values_list("details", flat=True):  # oldest first: the last one wins
        if not isinstance(details, dict) or details.get("undone_by"):
            continue
        if details.get("source") and details.get("target"):
            into[int(details["source"])] = int(details["target"])
    # The labels merged into may not be among `ids` (a class merged into a label the version
    # never saw): which of them are alive is asked too.
    alive |= set(
        Label.objects.filter(ontology=ontology, pk__in=set(into.values()) - alive).values_list(
            "pk", flat=True
        )
    )
    out = []
    for i in ids:
        seen = set()
        while i not in alive and i in into and i not in seen:
            seen.add(i)
            i = into[i]
        out.append(i if i in alive else None)
    return out


def predictions_relabel_soon(*, ontology: Ontology, mapping: dict[int, int | None]) -> None:
    """Once the merge or delete has committed, the worker rewrites the predictions that name
    the label (`predictions_relabel`). Inside the merge's transaction the rewrite held the
    database for every user: each prediction scores every class, so every prediction of the
    project matched, 37 s for 61,262 of them (an annotator's save failed with 503 meanwhile).
    Until it has run, readers leave out the ids the ontology no longer has."""
    from labelapp.queueing import enqueue_on_commit
    from ml_backend import tasks

    if mapping:
        wire = {str(k): (None if v is None else int(v)) for k, v in mapping.items()}
        enqueue_on_commit(tasks.predictions_relabel, ontology.pk, wire)


RELABEL_BATCH = 500  # predictions rewritten per transaction


def predictions_relabel(*, ontology_id: int, mapping: dict) -> int:
    """Rewrite label ids inside predictions' JSON: `old id -> new id` (scores: the max of
    both when a prediction had both), or `old id -> None` to drop them; returns rows changed.
    In batches, each a short transaction of its own (with the rows locked, so a pre-labeling
    writing them meanwhile is not overwritten with what was read before it). Idempotent: a
    second run finds nothing left to rewrite."""
    from ml_backend.models import Prediction

    if not mapping:
        return 0
    keys = {str(k): (None if v is None else str(v)) for k, v in mapping.items()}
    wanted = Q()
    for key in keys:
        wanted |= Q(clip_scores__has_key=key)
    if connection.features.supports_json_field_contains:
        for old in keys:
            wanted |= Q(segments__contains=[{"label": int(old)}])
    else:
        wanted |= Q(segments__0__isnull=False)  # SQLite: look at any with segments
    ids = list(
        Prediction.objects.filter(wanted, clip__project__ontology_id=ontology_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    changed = 0
    for at in range(0, len(ids), RELABEL_BATCH):
        with transaction.atomic():
            rows = (
                Prediction.objects.select_for_update()
                .filter(pk__in=ids[at : at + RELABEL_BATCH])
                .only("id", "clip_scores", "segments")
            )
            dirty = [p for p in rows if _prediction_relabel(p, keys)]
            Prediction.objects.bulk_update(dirty, ["clip_scores", "segments"])
            changed += len(dirty)
    return changed


def _prediction_relabel(prediction, keys: dict[str, str | None]) -> bool:
    dirty = False
    scores = dict(prediction.clip_scores or {})
    for old, new in keys.items():
        if old not in scores:
            continue
        value = scores.pop(old)
        if new is not None:
            scores[new] = max(value, scores[new]) if new in scores else value
        dirty = True
    segments = []
    for seg in prediction.segments or []:
        old = str(seg.get("label")) if isinstance(seg, dict) else None
        if old in keys:
            dirty = True
            if keys[old] is None:
                continue
            seg = {**seg, "label": int(keys[old])}
        segments.append(seg)
    if dirty:
        prediction.clip_scores, prediction.segments = scores, segments
    return dirty
