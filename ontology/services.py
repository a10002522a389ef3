"""Writes to the label tree. Every change bumps the ontology version and is logged.

Labels are edited in place: rename and move keep the row (and so every annotation and
prediction pointing at it); only `path`/`depth` of the label and its subtree are rewritten,
in one UPDATE. Each service locks the ontology row first, so two leads editing the same tree
take turns instead of interleaving half-done subtree rewrites.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator

from django.db import transaction
from django.db.models import CharField, F, Max, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils import timezone

from labelapp.errors import Conflict, DomainError
from labelapp.lookups import rows_ignoring_case
from ontology.models import PATH_SEPARATOR, Label, Ontology, OntologyChange
from ontology.rules import (  # noqa: F401  (label_name_validate: part of this module's API)
    PATH_MAX,
    hotkey_check_free,
    is_same_or_descendant,
    label_color_validate,
    label_hotkey_validate,
    label_name_validate,
    path_join,
    path_key,
    sibling_name_check,
)

EDITABLE_ATTRIBUTES = ("description", "color", "hotkey", "external_id")


def ontology_bump(
    *, ontology: Ontology, user=None, action: str, details: dict, undo: dict | None = None
) -> OntologyChange:
    """Version + 1 and one change-log entry. `updated_at` moves too: the tree cache keys on both,
    so a version number reused after a rolled-back change can never serve a stale tree."""
    Ontology.objects.filter(pk=ontology.pk).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    ontology.refresh_from_db(fields=["version", "updated_at"])
    return OntologyChange.objects.create(
        ontology=ontology,
        version=ontology.version,
        user=user,
        action=action,
        details=details,
        undo=undo,
    )


def _ontology_lock(ontology_id: int) -> Ontology:
    return Ontology.objects.select_for_update().get(pk=ontology_id)


def _label_fresh(label: Label) -> Label:
    """The label as stored now (after the lock): callers may hold an instance read earlier."""
    try:
        return Label.objects.get(pk=label.pk)
    except Label.DoesNotExist:
        raise DomainError(
            f"label {label.path!r} no longer exists", code="not_found", status=404
        ) from None


def _parent_get(*, ontology_id: int, parent) -> Label | None:
    """`parent` as a Label of this ontology: a Label, an id, or None for the top level."""
    if parent is None:
        return None
    parent_id = parent.pk if isinstance(parent, Label) else parent
    found = Label.objects.filter(ontology_id=ontology_id, pk=parent_id).first()
    if found is None:
        raise DomainError(
            f"the parent label (id {parent_id!r}) is not in this ontology: deleted or merged "
            "since, or another project's",
            code="unknown_parent",
            extra={"label": str(parent_id)},
        )
    return found


def _orders_write(rows: list[Label]) -> None:
    changed = []
    for i, row in enumerate(rows):
        if row.order != i:
            row.order = i
            changed.append(row)
    Label.objects.bulk_update(changed, ["order"])


def _siblings_renumber(ontology_id: int, parent_id: int | None) -> None:
    """Number the children of `parent_id` 0..n-1, keeping their current order."""
    _orders_write(
        list(
            Label.objects.filter(ontology_id=ontology_id, parent_id=parent_id).order_by(
                "order", "name", "id"
            )
        )
    )


def _siblings_place(label: Label, position: int | None, *, before: int | None = None) -> None:
    """Put `label` at `position` among its siblings (end when None) and renumber them 0..n-1.
    `before`: a sibling's id to put it in front of instead, when that sibling is there."""
    siblings = list(
        Label.objects.filter(ontology_id=label.ontology_id, parent_id=label.parent_id)
        .exclude(pk=label.pk)
        .order_by("order", "name", "id")
    )
    index = len(siblings) if position is None else max(0, min(int(position), len(siblings)))
    index = next((i for i, s in enumerate(siblings) if s.pk == before), index)
    siblings.insert(index, label)
    _orders_write(siblings)


def _subtree_repath(label: Label, new_path: str, new_depth: int) -> None:
    """Rewrite the descendants' `path`/`depth` in one UPDATE; set `label`'s own in memory
    (the caller saves it with its other changes)."""
    old_path = label.path
    longest = Label.objects.filter(
        ontology_id=label.ontology_id, path__startswith=old_path + PATH_SEPARATOR
    ).aggregate(n=Max(Length("path")))["n"] or len(old_path)
    if longest - len(old_path) + len(new_path) > PATH_MAX:
        raise DomainError(
            f"label {new_path!r}: paths below it would be longer than {PATH_MAX} characters",
            code="path_too_long",
            extra={"label": new_path},
        )
    Label.objects.filter(
        ontology_id=label.ontology_id, path__startswith=old_path + PATH_SEPARATOR
    ).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1), output_field=CharField()),
        depth=F("depth") + (new_depth - label.depth),
    )
    label.path, label.depth = new_path, new_depth


@transaction.atomic
def label_create(
    *,
    ontology: Ontology,
    name: str,
    parent=None,
    user=None,
    description: str = "",
    color: str = "",
    hotkey: str = "",
    external_id: str = "",
    position: int | None = None,
) -> Label:
    ontology = _ontology_lock(ontology.pk)
    name = label_name_validate(name)
    parent = _parent_get(ontology_id=ontology.pk, parent=parent)
    path = path_join(parent, name)
    if len(path) > PATH_MAX:
        raise DomainError(
            f"label path {path[:60]!r}... is longer than {PATH_MAX} characters",
            code="path_too_long",
            extra={"label": path},
        )
    sibling_name_check(ontology_id=ontology.pk, parent=parent, name=name)
    color = label_color_validate(color, label=path)
    hotkey = label_hotkey_validate(hotkey, label=path)
    hotkey_check_free(ontology_id=ontology.pk, hotkey=hotkey, label_path=path)
    label = Label.objects.create(
        ontology=ontology,
        parent=parent,
        name=name,
        path=path,
        depth=0 if parent is None else parent.depth + 1,
        description=(description or "").strip(),
        color=color,
        hotkey=hotkey,
        external_id=(external_id or "").strip(),
        order=10**6,
    )
    _siblings_place(label, position)
    ontology_bump(
        ontology=ontology,
        user=user,
        action="create",
        details={"label": label.pk, "path": label.path},
    )
    return label


@transaction.atomic
def label_rename(*, label: Label, name: str, user=None) -> Label:
    """Rename in place: the row (and everything pointing at it) stays; paths below follow."""
    _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    name = label_name_validate(name)
    if name == label.name:
        return label
    sibling_name_check(
        ontology_id=label.ontology_id, parent=label.parent, name=name, exclude_id=label.pk
    )
    old_path = label.path
    _subtree_repath(label, path_join(label.parent, name), label.depth)
    label.name = name
    label.save(update_fields=["name", "path", "depth"])
    ontology_bump(
        ontology=label.ontology,
        user=user,
        action="rename",
        details={"label": label.pk, "from": old_path, "to": label.path},
    )
    return label


@transaction.atomic
def label_move(*, label: Label, parent, position: int | None = None, user=None) -> Label:
    """Move under `parent` (a Label, an id or None for the top level), keeping the row."""
    _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    parent = _parent_get(ontology_id=label.ontology_id, parent=parent)
    if parent is not None and is_same_or_descendant(parent, label):
        what = "itself" if parent.pk == label.pk else f"its own descendant {parent.path!r}"
        raise DomainError(
            f"cannot move label {label.path!r} under {what}: a label cannot be its own ancestor",
            code="cycle",
            extra={"label": label.path},
        )
    if (parent.pk if parent else None) == label.parent_id:
        return (
            label_reorder(label=label, position=position, user=user)
            if position is not None
            else label
        )
    sibling_name_check(
        ontology_id=label.ontology_id, parent=parent, name=label.name, exclude_id=label.pk
    )
    old_path = label.path
    _subtree_repath(label, path_join(parent, label.name), 0 if parent is None else parent.depth + 1)
    label.parent = parent
    label.order = 10**6
    label.save(update_fields=["parent", "path", "depth", "order"])
    _siblings_place(label, position)
    ontology_bump(
        ontology=label.ontology,
        user=user,
        action="move",
        details={"label": label.pk, "from": old_path, "to": label.path},
    )
    return label


@transaction.atomic
def label_reorder(*, label: Label, position: int, user=None) -> Label:
    _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    if position is None or int(position) < 0:
        raise DomainError(f"label {label.path!r}: position must be 0 or more", code="invalid")
    _siblings_place(label, int(position))
    label.refresh_from_db(fields=["order"])
    ontology_bump(
        ontology=label.ontology,
        user=user,
        action="reorder",
        details={"label": label.pk, "path": label.path, "position": label.order},
    )
    return label


@transaction.atomic
def label_attributes_set(*, label: Label, user=None, **changes) -> Label:
    """Description, color, hotkey, external id: validated, logged as before/after pairs."""
    unknown = set(changes) - set(EDITABLE_ATTRIBUTES)
    if unknown:
        raise DomainError(f"cannot set {', '.join(sorted(unknown))} here")
    _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    if "color" in changes:
        changes["color"] = label_color_validate(changes["color"], label=label.path)
    if "hotkey" in changes:
        changes["hotkey"] = label_hotkey_validate(changes["hotkey"], label=label.path)
        hotkey_check_free(
            ontology_id=label.ontology_id,
            hotkey=changes["hotkey"],
            label_path=label.path,
            exclude_id=label.pk,
        )
    diff = {}
    for key, value in changes.items():
        value = (value or "").strip()
        if getattr(label, key) != value:
            diff[key] = [getattr(label, key), value]
            setattr(label, key, value)
    if diff:
        label.save(update_fields=list(diff))
        ontology_bump(
            ontology=label.ontology,
            user=user,
            action="update",
            details={"label": label.pk, "path": label.path, "changes": diff},
        )
    return label


@transaction.atomic
def label_deprecate(*, label: Label, deprecated: bool = True, user=None) -> Label:
    """Hide from pickers, keep history: annotations using it stay as they are."""
    _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    if label.deprecated == bool(deprecated):
        return label
    label.deprecated = bool(deprecated)
    label.save(update_fields=["deprecated"])
    ontology_bump(
        ontology=label.ontology,
        user=user,
        action="deprecate" if deprecated else "undeprecate",
        details={"label": label.pk, "path": label.path},
    )
    return label


EXPECTABLE = ("name", "parent", "description", "color", "hotkey", "external_id", "deprecated")


@transaction.atomic
def label_edit(*, label: Label, user=None, changes: dict, expected: dict | None = None) -> Label:
    """One PATCH: any of name, parent, position, attributes, deprecated; all or nothing.
    `expected`: the values the editor last saw of the fields it changes; one another lead
    changed since is a 409 naming it (the last save won, silently)."""
    if expected:
        _ontology_lock(label.ontology_id)
        label = _label_fresh(label)
        now = {field: getattr(label, field) for field in EXPECTABLE if field != "parent"}
        now["parent"] = label.parent_id
        moved = [f for f, was in expected.items() if f in now and now[f] != was]
        if moved:
            said = "; ".join(f"{f} is now {now[f]!r}" for f in moved)
            raise Conflict(
                f"another lead changed {label.path!r} since you loaded it ({said}); "
                "reload to see it, then make your change again",
                code="label_changed",
                extra={"label": label.path, "fields": moved},
            )
    if "name" in changes:
        label = label_rename(label=label, name=changes["name"], user=user)
    if "parent" in changes:
        label = label_move(
            label=label, parent=changes["parent"], position=changes.get("position"), user=user
        )
    elif changes.get("position") is not None:
        label = label_reorder(label=label, position=changes["position"], user=user)
    attributes = {k: v for k, v in changes.items() if k in EDITABLE_ATTRIBUTES}
    if attributes:
        label = label_attributes_set(label=label, user=user, **attributes)
    if "deprecated" in changes:
        label = label_deprecate(label=label, deprecated=changes["deprecated"], user=user)
    return label


@transaction.atomic
def label_delete(*, label: Label, user=None) -> dict:
    """Delete a label and its subtree, refused while any of them is used by an annotation."""
    from ontology.merge import predictions_relabel_soon
    from ontology.selectors import label_usage_counts

    ontology = _ontology_lock(label.ontology_id)
    label = _label_fresh(label)
    subtree = list(
        Label.objects.filter(
            ontology_id=label.ontology_id, path__startswith=label.path + PATH_SEPARATOR
        )
    ) + [label]
    usage = label_usage_counts([row.pk for row in subtree])
    for row in sorted(subtree, key=lambda r: r.depth):
        used = usage.get(row.pk)
        if used and (used["clip"] or used["segment"]):
            which = "it" if row.pk == label.pk else f"its descendant {row.path!r}"
            raise Conflict(
                f"cannot delete label {label.path!r}: {which} is used by {used['clip']} clip "
                f"label(s) and {used['segment']} segment label(s); deprecate it instead, or "
                "merge it into another label",
                code="label_in_use",
                extra={"label": row.path, "usage": used},
            )
    drafts = _drafts_using(label.ontology_id, {row.path.lower() for row in subtree})
    for depth in sorted({row.depth for row in subtree}, reverse=True):
        Label.objects.filter(pk__in=[r.pk for r in subtree if r.depth == depth]).delete()
    predictions_relabel_soon(ontology=ontology, mapping={r.pk: None for r in subtree})
    ontology_bump(
        ontology=ontology,
        user=user,
        action="delete",
        # Each label's path by id: a model's classes outlive them (its confusion matrix
        # named a class deleted with its parent "#4").
        details={
            "label": label.pk,
            "path": label.path,
            "deleted": len(subtree),
            "paths": {str(r.pk): r.path for r in subtree if r.pk != label.pk},
        },
    )
    return {
        "deleted": len(subtree),
        "drafts_affected": drafts,
        "version": ontology.version,
    }


def _drafts_using(ontology_id: int, paths: set[str]) -> int:
    """Unsaved drafts (of the ontology's projects) that hold one of `paths` (lower-cased): a
    delete goes ahead (drafts are not annotations), but the lead is told, and the workspace
    takes the label off such a draft when it is opened, saying so."""
    from labelapp.models import AnnotationDraft

    rows = AnnotationDraft.objects.filter(clip__project__ontology_id=ontology_id).values_list(
        "data", flat=True
    )
    return sum(
        1
        for data in rows.iterator(chunk_size=500)
        if any(p.strip().lower() in paths for p in label_paths_in(data))
    )


def label_paths_in(data) -> Iterator[str]:
    """The label paths an annotation-shaped dict names (a draft's data, a revision's
    snapshot: `clip_labels` and each segment's `labels`), skipping what is not a path: drafts
    are stored as sent."""
    if not isinstance(data, dict):
        return
    yield from (p for p in data.get("clip_labels") or [] if isinstance(p, str))
    for seg in data.get("segments") or []:
        if isinstance(seg, dict):
            yield from (p for p in seg.get("labels") or [] if isinstance(p, str))


def label_at_path(ontology: Ontology, path: str) -> Label | None:
    """The label at `path` among the labels at its depth, compared as siblings are
    (`rows_ignoring_case` by `path_key`: any letter's case, ß as SS, joiners left out), so
    that an import naming "pets/c\u200dat" finds "pets/cat" instead of making a look-alike
    beside it."""
    at_depth = Label.objects.filter(ontology=ontology, depth=path.count(PATH_SEPARATOR))
    return next(iter(rows_ignoring_case(at_depth, "path", path, key=path_key)), None)


@transaction.atomic
def label_get_or_create_path(*, ontology: Ontology, path: str, user=None) -> tuple[Label, bool]:
    """The label at `/`-separated `path`, creating missing labels along the way."""
    parts = [label_name_validate(p) for p in str(path).split(PATH_SEPARATOR)]
    full = PATH_SEPARATOR.join(parts)
    found = label_at_path(ontology, full)
    if found is not None:
        return found, False
    _ontology_lock(ontology.pk)
    parent = None
    created_any = False
    for depth, part in enumerate(parts):
        prefix = PATH_SEPARATOR.join(parts[: depth + 1])
        label = label_at_path(ontology, prefix)
        if label is None:
            label = Label.objects.create(
                ontology=ontology,
                parent=parent,
                name=part,
                path=prefix,
                depth=depth,
                order=Label.objects.filter(ontology=ontology, parent=parent).count(),
            )
            created_any = True
        parent = label
    if created_any:
        ontology_bump(ontology=ontology, user=user, action="create", details={"path": parent.path})
    return parent, created_any


def label_resolve(*, ontology: Ontology, ref: str, create: bool = False, user=None) -> Label:
    """A label named by `/`-separated path or, if unambiguous, by bare name. A path the label
    had before a rename, move or merge still names it (see `label_by_former_path`): a draft, a
    workspace opened before the change or a file written before it keeps working."""
    ref = unicodedata.normalize("NFC", str(ref).strip())  # as names are stored
    if not ref:
        raise DomainError("empty label name")
    if PATH_SEPARATOR in ref:
        # Each name trimmed, as a label made from the path was: " digits / three " made
        # "digits/three", then was an unknown label when the same manifest came again.
        ref = PATH_SEPARATOR.join(part.strip() for part in ref.split(PATH_SEPARATOR))
        label = label_at_path(ontology, ref)
        if label is None:
            label = label_by_former_path(ontology=ontology, path=ref)
        if label is None and create:
            label, _ = label_get_or_create_path(ontology=ontology, path=ref, user=user)
        if label is None:
            raise DomainError(f"unknown label {ref!r}", code="unknown_label")
        return label
    matches = rows_ignoring_case(Label.objects.filter(ontology=ontology), "name", ref, limit=3)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        more = ", ..." if len(matches) > 2 else ""
        raise DomainError(
            f"label name {ref!r} is ambiguous ({matches[0].path}, {matches[1].path}{more}); "
            "use its full path",
            code="ambiguous_label",
        )
    former = label_by_former_path(ontology=ontology, path=ref)  # a root label's old name
    if former is not None:
        return former
    if create:
        label, _ = label_get_or_create_path(ontology=ontology, path=ref, user=user)
        return label
    raise DomainError(f"unknown label {ref!r}", code="unknown_label")


def label_named(*, ontology: Ontology, ref) -> bool:
    """Whether `ref` names one of `ontology`'s labels as `label_resolve` reads names (a
    path, a name only it has, a path it had before), or several (a bare name they share:
    the caller's resolution then says it is ambiguous; read as no label, a Label Studio
    control of "cavitation" regions was left out as a "quality" question and its segments
    lost without a word). Longer than any path, it names none (60,000 characters reached
    SQLite's LIKE, which refused them as a 503)."""
    if len(str(ref)) > PATH_MAX:
        return False
    try:
        label_resolve(ontology=ontology, ref=ref)
    except DomainError as exc:
        return exc.code == "ambiguous_label"
    return True


# Change-log entries a former path is followed through, newest last; older ones are not read.
FORMER_PATH_CHANGES = 2000


RESOLVE_MAX = 200


def labels_current_paths(*, ontology: Ontology, paths: list[str]) -> dict[str, str | None]:
    """`paths_today` for at most RESOLVE_MAX paths (the resolve API's bound)."""
    if len(paths) > RESOLVE_MAX:
        raise DomainError(
            f"at most {RESOLVE_MAX} paths at once ({len(paths)} given)", code="too_many_paths"
        )
    return paths_today(ontology=ontology, paths=paths)


def paths_today(*, ontology: Ontology, paths: Iterable[str]) -> dict[str, str | None]:
    """Each path's label today: itself when it names a label, else where the change log says
    it went (a draft written before a rename shows the new name), else None. The tree and the
    change log are read once, however many paths."""
    given = [p for p in dict.fromkeys(paths) if p.strip()]

    # Compared as names are stored (NFC: a path typed with decomposed accents was unknown),
    # and as siblings are compared (path_key: ß as SS, joiners left out, each name trimmed).
    def key(p: str) -> str:
        parts = unicodedata.normalize("NFC", p.strip()).split(PATH_SEPARATOR)
        return path_key(PATH_SEPARATOR.join(part.strip() for part in parts))

    wanted = {key(p) for p in given}
    found = {
        path_key(path): path
        for path in Label.objects.filter(ontology=ontology).values_list("path", flat=True)
        if path_key(path) in wanted
    }
    out: dict[str, str | None] = {}
    steps = None  # the change log, read once and only when a path is not in today's tree
    for path in given:  # each spelling given gets its answer (a draft may hold two)
        now = found.get(key(path))
        if now is None:
            steps = former_path_steps(ontology) if steps is None else steps
            label = label_by_former_path(ontology=ontology, path=path, steps=steps)
            now = label.path if label is not None else None
        out[path] = now
    return out


def label_by_former_path(
    *, ontology: Ontology, path: str, steps: list[tuple[str, str]] | None = None
) -> Label | None:
    """The label a path no longer in the ontology became, from the change log: from the last
    rename, move or merge that took that path (or a path above it) away, through every such
    change after it. None when no change took it away or it leads to no label. `steps`:
    `former_path_steps(ontology)` read once for many paths."""
    if steps is None:
        steps = former_path_steps(ontology)
    current = unicodedata.normalize("NFC", path.strip()).lower()

    def moved(p: str, old: str, new: str) -> str | None:
        if p == old:
            return new
        if p.startswith(old + PATH_SEPARATOR):
            return new + p[len(old) :]
        return None

    def follow(start: int) -> Label | None:
        here = current
        for old, new in steps[start:]:
            step = moved(here, old, new)
            here = here if step is None else step.lower()
        return label_at_path(ontology, here)

    # Where the path went: first from the changes that took that very path away (the label
    # itself renamed, moved or merged), newest first; then from those that took a path above
    # it away. A child renamed before its parent is found through its own rename: the
    # parent's rename alone would lead to the child's old name under the new parent.
    exact = [i for i, (old, _) in enumerate(steps) if old == current]
    above = [i for i, (old, _) in enumerate(steps) if current.startswith(old + PATH_SEPARATOR)]
    for start in [*reversed(exact), *reversed(above)]:
        label = follow(start)
        if label is not None:
            return label
    return None


def former_path_steps(ontology: Ontology) -> list[tuple[str, str]]:
    """The change log's path moves, oldest first: (old path lower-cased, new path)."""
    changes = list(
        OntologyChange.objects.filter(
            ontology=ontology, action__in=("rename", "move", "merge", "unmerge")
        )
        .order_by("-version", "-id")
        .values_list("action", "details")[:FORMER_PATH_CHANGES]
    )[::-1]
    steps = []
    for action, details in changes:
        if not isinstance(details, dict):
            continue
        if action == "merge" and details.get("undone_by"):
            continue  # undone: its paths lead nowhere (the unmerge's own moves follow)
        if action == "unmerge":  # the children it moved back under the restored label
            steps.extend(
                (old.lower(), new)
                for old, new in details.get("moved") or []
                if isinstance(old, str) and isinstance(new, str) and old
            )
            continue
        old, new = (
            (details.get("source_path"), details.get("target_path"))
            if action == "merge"
            else (details.get("from"), details.get("to"))
        )
        if isinstance(old, str) and isinstance(new, str) and old:
            steps.append((old.lower(), new))
    return steps
