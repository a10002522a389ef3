"""Undoing a merge: the merged-away label comes back (its id, name, place and attributes), its
children move back under it, and every annotation and segment the merge moved uses it again.

A merge records what undoing it needs beside its change-log entry (`merge_undo_record`, in
`OntologyChange.undo`): which annotations and segments had the source (and which had the
target too, so the merge dropped the source there), the source's children and its attributes.
Undoing reads that record; it does not guess from today's tree. An annotation written since the
merge (saved, submitted, corrected, skipped: not an accept or a reject) keeps what it says now.

Undo is refused (409) where it could not be exact: undone already, a later merge into the same
target still in place (its uses are mixed with this one's), the target or the label's parent
gone, the name taken, or a child now above the place the label would return to.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef

from labelapp.chunks import id_chunks
from labelapp.errors import Conflict, DomainError, NotFound
from labelapp.models import AnnotationRevision, ClipLabel, SegmentLabel
from ontology.models import PATH_SEPARATOR, Label, Ontology, OntologyChange
from ontology.rules import (
    PATH_MAX,
    hotkey_check_free,
    is_same_or_descendant,
    path_join,
    sibling_name_check,
)
from ontology.services import (
    _ontology_lock,
    _siblings_place,
    _siblings_renumber,
    _subtree_repath,
    ontology_bump,
)

# A merge touching more uses than this is not recorded for undo (its record would be a JSON
# list of that many ids).
UNDO_MAX_USES = 200_000
REVIEW_ONLY = ("accept", "reject")  # revisions that change no label


def merge_undo_record(source: Label, target: Label, children: list[Label]) -> dict | None:
    """What undoing this merge needs, read before the merge rewrites anything. None when the
    merge moves more than UNDO_MAX_USES uses (it cannot be undone then)."""
    clip_both = Exists(ClipLabel.objects.filter(annotation=OuterRef("annotation"), label=target))
    seg_both = Exists(SegmentLabel.objects.filter(segment=OuterRef("segment"), label=target))
    clips = list(
        ClipLabel.objects.filter(label=source)
        .annotate(both=clip_both)
        .values_list("annotation_id", "both")[: UNDO_MAX_USES + 1]
    )
    segments = list(
        SegmentLabel.objects.filter(label=source)
        .annotate(both=seg_both)
        .values_list("segment_id", "both")[: UNDO_MAX_USES + 1]
    )
    if len(clips) + len(segments) > UNDO_MAX_USES:
        return None
    siblings = list(
        Label.objects.filter(ontology_id=source.ontology_id, parent_id=source.parent_id)
        .order_by("order", "name", "id")
        .values_list("pk", flat=True)
    )
    after = siblings[siblings.index(source.pk) + 1 :]
    return {
        "label": {
            "name": source.name,
            "parent": source.parent_id,
            "order": source.order,
            "description": source.description,
            "color": source.color,
            "hotkey": source.hotkey,
            "external_id": source.external_id,
            "deprecated": source.deprecated,
        },
        "before": after[0] if after else None,  # its place: before this sibling
        "children": [child.pk for child in children],
        "clips": [a for a, both in clips if not both],
        "clips_both": [a for a, both in clips if both],
        "segments": [s for s, both in segments if not both],
        "segments_both": [s for s, both in segments if both],
    }


def undoable(change: OntologyChange, *, has_record: bool) -> bool:
    """Whether the change log offers Undo: a merge with a record, not undone. (Undo may still
    be refused when today's tree has no place for the label.)"""
    details = change.details if isinstance(change.details, dict) else {}
    return (
        change.action == "merge"
        and has_record
        and not details.get("undone_by")
        and not details.get("part_of")  # undone with the merge it is part of
    )


@transaction.atomic
@transaction.atomic
def merge_undo(*, ontology: Ontology, change_id: int, user=None) -> dict:
    """Undo the merge logged as `change_id` (see the module's docstring for what is refused),
    and the merges of its children it made on the way ("merge children into the target's
    children"), newest first: all of them, or none. `children_unmerged` lists their paths."""
    part_of = (
        OntologyChange.objects.filter(ontology_id=ontology.pk, pk=change_id)
        .values_list("details__part_of", flat=True)
        .first()
    )
    if part_of:
        whole = OntologyChange.objects.filter(pk=part_of).values_list("details", flat=True).first()
        whole = whole if isinstance(whole, dict) else {}
        raise Conflict(
            f"this merge was part of the merge of {whole.get('source_path')!r} into "
            f"{whole.get('target_path')!r} (change {part_of}): undo that one, which undoes "
            "this too",
            code="not_undoable",
        )
    out = _merge_undo_one(ontology=ontology, change_id=change_id, user=user)
    top = OntologyChange.objects.get(pk=change_id)
    out["children_unmerged"] = []
    for child_id in reversed(top.details.get("children_changes") or []):
        child = OntologyChange.objects.filter(ontology_id=ontology.pk, pk=child_id).first()
        if child is None or (child.details or {}).get("undone_by"):
            continue
        done = _merge_undo_one(ontology=ontology, change_id=child_id, user=user)
        out["children_unmerged"].append(done["source_path"])
        out["warnings"] += done["warnings"]
        for key, value in done.items():
            if key != "source" and key != "target" and isinstance(value, int):
                out[key] = out.get(key, 0) + value
    out["version"] = _ontology_lock(ontology.pk).version
    return out


def _merge_undo_one(*, ontology: Ontology, change_id: int, user=None) -> dict:
    ontology = _ontology_lock(ontology.pk)
    change = OntologyChange.objects.filter(ontology=ontology, pk=change_id).first()
    if change is None:
        raise NotFound(f"no change {change_id} in this ontology's log")
    details = change.details if isinstance(change.details, dict) else {}
    what = f"the merge of {details.get('source_path')!r} into {details.get('target_path')!r}"
    if change.action != "merge":
        raise DomainError(
            f"change {change_id} is {'an' if change.action[:1] in 'aeiou' else 'a'} "
            f"{change.action}; only a merge can be undone",
            code="not_undoable",
        )
    if details.get("undone_by"):
        raise Conflict(f"{what} was undone already", code="already_undone")
    record = change.undo
    if not record:
        raise Conflict(
            f"{what} cannot be undone: it was made before merges recorded what undoing needs, "
            f"or it moved more than {UNDO_MAX_USES:,} uses",
            code="not_undoable",
        )
    target = Label.objects.filter(ontology=ontology, pk=details.get("target")).first()
    if target is None:
        raise Conflict(
            f"{what} cannot be undone: {details.get('target_path')!r} has been deleted or "
            "merged away since",
            code="not_undoable",
        )
    _later_merges_check(ontology, change, what)
    spec = record["label"]
    parent = None
    if spec["parent"] is not None:
        parent = Label.objects.filter(ontology=ontology, pk=spec["parent"]).first()
        if parent is None:
            raise Conflict(
                f"{what} cannot be undone: the label it was under has been deleted since",
                code="not_undoable",
            )
    try:
        sibling_name_check(ontology_id=ontology.pk, parent=parent, name=spec["name"])
    except DomainError as exc:
        raise Conflict(f"{what} cannot be undone: {exc.message}", code="duplicate_label") from None
    path = path_join(parent, spec["name"])
    if len(path) > PATH_MAX:
        raise Conflict(
            f"{what} cannot be undone: its path would be longer than {PATH_MAX} characters",
            code="path_too_long",
        )
    children = list(Label.objects.filter(pk__in=record["children"], parent=target))
    for child in children:
        if parent is not None and is_same_or_descendant(parent, child):
            raise Conflict(
                f"{what} cannot be undone: {parent.path!r}, where the label would return, is "
                f"now under its child {child.path!r} (move it out first)",
                code="cycle",
            )

    kept = details.get("kept") or []
    restored_attrs, warnings = _attributes_take_back(ontology, target, spec, kept)
    old_id = details["source"]
    source = Label.objects.create(
        # The same id where it is free, so model versions and exports that name it still do (a
        # database whose id sequence was reset may have given it to a new label since).
        pk=None if Label.objects.filter(pk=old_id).exists() else old_id,
        ontology=ontology,
        parent=parent,
        name=spec["name"],
        path=path,
        depth=0 if parent is None else parent.depth + 1,
        order=spec["order"],
        description=spec["description"],
        external_id=spec["external_id"],
        deprecated=spec["deprecated"],
        **restored_attrs,
    )
    # Before the sibling it was before, if that one is still there (siblings renumbered since
    # do not move it), else at its old index.
    _siblings_place(source, spec["order"], before=record.get("before"))

    moved = []
    for child in children:
        old_path = child.path
        _subtree_repath(child, f"{source.path}{PATH_SEPARATOR}{child.name}", source.depth + 1)
        child.parent = source
        child.save(update_fields=["parent", "path", "depth"])
        moved.append([old_path, child.path])
    if moved:
        _siblings_renumber(ontology.pk, source.pk)
        _siblings_renumber(ontology.pk, target.pk)

    counts = _uses_move_back(record, source=source, target=target, since=change.created_at)
    from labelapp.models import ClipEvent
    from ontology.merge import clips_note_label_change, clips_using

    clips_note_label_change(  # the clips whose uses went back to it
        clips_using(source),
        ClipEvent.Action.LABEL_UNMERGED,
        f"the merge of {source.path} into {target.path} undone",
        user,
    )
    counts["children_moved_back"] = len(moved)
    counts["projects_rescored"], untrained = _rescore(ontology, source=source, target=target)
    warnings += untrained
    undo_change = ontology_bump(
        ontology=ontology,
        user=user,
        action="unmerge",
        details={
            "merge": change.pk,
            "merge_version": change.version,
            "source": source.pk,
            "source_before": old_id,
            "source_path": source.path,
            "target": target.pk,
            "target_path": target.path,
            "moved": moved,
            "warnings": warnings,
            **counts,
        },
    )
    OntologyChange.objects.filter(pk=change.pk).update(
        details={**details, "undone_by": undo_change.pk}
    )
    return {
        "source": source.pk,
        "source_path": source.path,
        "target": target.pk,
        "target_path": target.path,
        **counts,
        "warnings": warnings,
        "version": ontology.version,
    }


def _later_merges_check(ontology: Ontology, change: OntologyChange, what: str) -> None:
    """A later merge into the same target, still in place, mixed its uses with this one's: an
    annotation in both records would lose the other label. Undo that one first."""
    target_id = change.details.get("target")
    later = OntologyChange.objects.filter(
        ontology=ontology, action="merge", version__gt=change.version
    ).order_by("-version")
    for other in later.values_list("details", flat=True):
        if (
            isinstance(other, dict)
            and other.get("target") == target_id
            and not other.get("undone_by")
        ):
            raise Conflict(
                f"{what} cannot be undone while the later merge of {other.get('source_path')!r} "
                f"into {other.get('target_path')!r} stands (their uses are mixed): undo that "
                "one first",
                code="not_undoable",
            )


def _attributes_take_back(
    ontology: Ontology, target: Label, spec: dict, kept: list
) -> tuple[dict, list[str]]:
    """The source's hotkey and colour: taken back from the target when the merge passed them
    on (and the target still has them); a hotkey another label took since is left to it, and
    the warnings returned say so."""
    warnings: list[str] = []
    hotkey, color = spec["hotkey"], spec["color"]
    fields = []
    if "hotkey" in kept and hotkey and target.hotkey.lower() == hotkey.lower():
        target.hotkey = ""
        fields.append("hotkey")
    if "color" in kept and color and target.color == color:
        target.color = ""
        fields.append("color")
    if fields:
        target.save(update_fields=fields)
    if hotkey:
        try:  # the rule every label's hotkey obeys: one key however it is spelled
            hotkey_check_free(ontology_id=ontology.pk, hotkey=hotkey, label_path=spec["name"])
        except DomainError as exc:
            other = exc.extra.get("other", "another label")
            warnings.append(
                f"{spec['name']!r} comes back without its hotkey {hotkey!r}: {other!r} has "
                "used it since the merge"
            )
            hotkey = ""
    return {"hotkey": hotkey, "color": color}, warnings


def _written_since(annotation_ids: list[int], since) -> set[int]:
    """Annotations whose labels someone wrote after `since` (a save, submit, correction or
    skip; an accept or a reject changes no label)."""
    out: set[int] = set()
    for ids in id_chunks(annotation_ids):
        out.update(
            AnnotationRevision.objects.filter(annotation_id__in=ids, created_at__gt=since)
            .exclude(action__in=REVIEW_ONLY)
            .values_list("annotation_id", flat=True)
        )
    return out


def _uses_move_back(record: dict, *, source: Label, target: Label, since) -> dict:
    """Where the merge moved a use from source to target, move it back; where it dropped the
    source beside the target, add it again. Not on annotations written since the merge (they
    say what was chosen since), and only where the target is still there and the source is
    not. A segment written since has a new id, so it is not found either."""
    written = _written_since(record["clips"] + record["clips_both"], since)
    clips_back, clips_added = _move_back(
        ClipLabel,
        "annotation",
        [a for a in record["clips"] if a not in written],
        [a for a in record["clips_both"] if a not in written],
        source=source,
        target=target,
    )
    segments_back, segments_added = _move_back(
        SegmentLabel,
        "segment",
        record["segments"],
        record["segments_both"],
        source=source,
        target=target,
    )
    recorded = sum(len(record[k]) for k in ("clips", "clips_both", "segments", "segments_both"))
    restored = clips_back + clips_added + segments_back + segments_added
    return {
        "clip_labels_moved_back": clips_back,
        "clip_labels_restored": clips_added,
        "segment_labels_moved_back": segments_back,
        "segment_labels_restored": segments_added,
        "uses_kept_as_edited": recorded - restored,
    }


def _move_back(
    model, owner: str, moved: list[int], beside: list[int], *, source: Label, target: Label
) -> tuple[int, int]:
    """One kind of use (ClipLabel of an annotation, SegmentLabel of a segment): the `moved`
    owners' target uses become source uses again, the `beside` owners get the source added
    back; (moved back, added)."""
    key = f"{owner}_id"
    has_source = Exists(model.objects.filter(**{owner: OuterRef(owner)}, label=source))
    back = added = 0
    for ids in id_chunks(moved):
        rows = model.objects.filter(**{f"{key}__in": ids}, label=target).exclude(has_source)
        back += rows.update(label=source)
    for ids in id_chunks(beside):
        rows = model.objects.filter(**{f"{key}__in": ids}, label=target).exclude(has_source)
        owners = rows.values_list(key, flat=True)
        added += len(model.objects.bulk_create([model(**{key: o}, label=source) for o in owners]))
    return back, added


def _rescore(ontology: Ontology, *, source: Label, target: Label) -> tuple[int, list[str]]:
    """The merge folded the source's predicted scores into the target's; the active model
    scores the unlabeled clips again (after commit), so suggestions and ranking name it, and
    the labeled clips whose prediction names the target (a second annotator's suggestions,
    the exported predictions). A model trained while the merge stood has no class for the
    source: said, with what to do (the undo said "the model scores the clips again" and its
    suggestions went on naming the target for every one of the source's sounds)."""
    from labelapp.queueing import enqueue_on_commit
    from ml_backend import tasks
    from ml_backend.models import ModelVersion
    from ml_backend.prelabel import prelabel_request
    from ontology.merge import labels_now

    projects, warnings = 0, []
    for project in ontology.projects.live():
        active = ModelVersion.objects.filter(
            project=project, status=ModelVersion.Status.ACTIVE
        ).first()
        if active is not None:
            # named by its version (without one the model page called it a cold start)
            prelabel_request(project=project, model_version=active)
            enqueue_on_commit(tasks.predictions_rescore_labeled, project.pk, target.pk)
            projects += 1
            classes = [int(c) for c in active.classes or []]
            if classes and source.pk not in labels_now(ontology=ontology, ids=classes):
                warnings.append(
                    f"{project.name}'s active model ({active.name}) was trained without "
                    f"{source.path}: its suggestions name {target.path} for those sounds "
                    "until a training (Train now on the model page)"
                )
    return projects, warnings
