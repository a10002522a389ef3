"""Import and export of whole trees (formats live in `ontology.formats`).

An import merges a file into the ontology: labels whose path exists (ignoring case) keep their
row and take the attributes the file gives; the others are created. Nothing is deleted. It is
one transaction: a file with one bad label changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from django.db import transaction

from labelapp.errors import DomainError
from ontology.audioset import render_audioset
from ontology.formats import (
    LabelSpec,
    ParsedOntology,
    ontology_parse,
    render_earmark,
    render_paths,
)
from ontology.models import PATH_SEPARATOR, Label, Ontology
from ontology.rules import hotkey_combo, path_key
from ontology.services import (
    _ontology_lock,
    former_path_steps,
    label_by_former_path,
    ontology_bump,
)
from ontology.tree import tree_for_ontology_id

EXPORTS = {
    "earmark": ("application/json", "json"),
    "audioset": ("application/json", "json"),
    "paths": ("text/plain; charset=utf-8", "txt"),
}
ATTRIBUTES = ("description", "color", "hotkey", "external_id", "deprecated")
WARNINGS_LOGGED = 50


class _DryRun(Exception):
    def __init__(self, report: dict):
        self.report = report


def ontology_import(
    *,
    ontology: Ontology,
    content: bytes | str,
    format: str | None = None,
    user=None,
    dry_run: bool = False,
    source: str = "api",
    json_only: bool = False,
) -> dict:
    """Parse, check and apply a file in one transaction; with `dry_run`, roll it all back and
    only report what would change. `json_only`: see `ontology_parse`."""
    parsed = ontology_parse(content, format=format, json_only=json_only)
    try:
        with transaction.atomic():
            report = _apply(ontology, parsed, user=user, source=source)
            if dry_run:
                raise _DryRun(report)
    except _DryRun as done:
        ontology.refresh_from_db(fields=["version", "updated_at"])
        return {**done.report, "version": ontology.version, "dry_run": True}
    return {**report, "dry_run": False}


def ontology_import_file(
    *, project, path: Path, user=None, format: str | None = None, dry_run: bool = False
) -> dict:
    """Import a file from disk into a project's ontology (FileNotFoundError if it is missing)."""
    return ontology_import(
        ontology=project.ontology,
        content=Path(path).read_bytes(),
        format=format,
        user=user,
        dry_run=dry_run,
        source="cli",
        json_only=named_json(path),
    )


def named_json(name: str | Path) -> bool:
    """Whether a file's name says it holds JSON (then a list of paths in it is a mistake)."""
    return Path(name).suffix.lower() == ".json"


def _apply(ontology: Ontology, parsed: ParsedOntology, *, user, source: str) -> dict:
    _ontology_lock(ontology.pk)
    existing = {path_key(lb.path): lb for lb in Label.objects.filter(ontology_id=ontology.pk)}
    specs, followed = _former_paths_followed(ontology, existing, parsed.labels)
    before = dict(existing)  # `_labels_create` adds the new ones to `existing`
    to_create: list[LabelSpec] = []
    to_update: dict[int, Label] = {}
    fields_changed: set[str] = set()
    for spec in specs:
        label = existing.get(path_key(spec.path))
        if label is None:
            to_create.append(spec)
            continue
        for attr in ATTRIBUTES:
            value = getattr(spec, attr)
            if value is not None and value != getattr(label, attr):
                setattr(label, attr, value)
                to_update[label.pk] = label
                fields_changed.add(attr)
    _hotkeys_check(existing.values(), to_create)

    created = _labels_create(ontology, existing, to_create)
    if to_update:
        Label.objects.bulk_update(list(to_update.values()), sorted(fields_changed))
    details = {
        "format": parsed.format,
        "source": source,
        "created": created,
        "updated": len(to_update),
        "labels_in_file": len(parsed.labels),
        "warnings": parsed.warnings[:WARNINGS_LOGGED],
    }
    if created or to_update:
        ontology_bump(ontology=ontology, user=user, action="import", details=details)
    warnings = list(parsed.warnings)
    # The tree's labels the file does not hold: a weekly file with "piston" renamed "piston
    # pump" created a second subtree beside the used one, and nothing named the one left.
    in_file = {path_key(spec.path) for spec in specs}
    not_in_file = sorted(
        lb.path for key, lb in before.items() if key not in in_file and not lb.deprecated
    )
    # Said when the file is the tree as a whole (about its size: a file with a branch
    # renamed holds few of the tree's paths, but as many labels), not of a file adding a few
    # labels, which leaves out the rest on purpose.
    whole = len(in_file) >= 0.8 * len(before)
    retired = {key for key, lb in before.items() if lb.deprecated}
    hidden = [
        spec.path
        for spec in to_create
        if any(
            path_key(PATH_SEPARATOR.join(spec.names[:i])) in retired
            for i in range(1, len(spec.names))
        )
    ]
    if hidden:  # added with no word, they could never be chosen
        warnings.insert(
            0,
            f"{len(hidden)} label(s) added under deprecated labels cannot be chosen until those "
            "are restored (e.g. " + ", ".join(hidden[:3]) + ")",
        )
    if created and not_in_file and whole:
        warnings.insert(
            0,
            f"{len(not_in_file)} label(s) of the tree are not in the file (e.g. "
            + ", ".join(not_in_file[:3])
            + "): an import adds and updates labels, it never renames or removes them; if the "
            "file renames or moves them, do that in the label tree instead (the annotations "
            "follow), and this import would add them a second time",
        )
    if followed:
        warnings.insert(
            0,
            f"{len(followed)} label(s) of the file have been renamed, moved or merged since it "
            "was written; they were matched by their former paths and keep today's name, place "
            "and attributes (e.g. "
            + ", ".join(f"{item['file']} is now {item['now']}" for item in followed[:3])
            + ")",
        )
    return {
        **details,
        "unchanged": len(parsed.labels) - created - len(to_update),
        "created_paths": [spec.path for spec in to_create][:REPORT_PATHS],
        "updated_paths": sorted(label.path for label in to_update.values())[:REPORT_PATHS],
        "followed": followed[:REPORT_PATHS],
        "followed_count": len(followed),
        "not_in_file": len(not_in_file),
        "not_in_file_paths": not_in_file[:REPORT_PATHS],
        "warnings": warnings,
        "version": ontology.version,
    }


REPORT_PATHS = 200


def _former_paths_followed(
    ontology: Ontology, existing: dict[str, Label], specs: list[LabelSpec]
) -> tuple[list[LabelSpec], list[dict]]:
    """A file written before a rename, move or merge names labels by paths they no longer
    have. Such a path is the label it became (as everywhere else a former path is read:
    drafts, API calls, manifests), not a new empty label beside it: the file's specs are
    rewritten to today's paths. A label found that way keeps its attributes (the file is
    older than its rename), and a new label under one is created under it as it is now.
    Returns the specs to apply and what was followed ({"file": old path, "now": path})."""
    steps = None  # the change log, read once and only when a path is not in today's tree
    now_of: dict[str, str] = {}  # a file path (lower-cased) followed to a label's path today
    planned: dict[str, int] = {}  # a path to create (lower-cased): its spec's index in `out`
    out: list[LabelSpec] = []
    followed: list[dict] = []

    def plan(spec: LabelSpec) -> None:
        key = path_key(spec.path)
        if key in planned:  # named twice (at a former path and today's): one label, the
            # attributes of both (the later entry's where both give one)
            given = {a: getattr(spec, a) for a in ATTRIBUTES if getattr(spec, a) is not None}
            out[planned[key]] = replace(out[planned[key]], **given)
            return
        planned[key] = len(out)
        out.append(spec)

    for spec in specs:  # parents before children
        key = path_key(spec.path)
        if key in existing:
            out.append(spec)
            continue
        # The path's own history first: the label itself renamed or moved (its parent
        # perhaps too); the change log knows where it went.
        steps = former_path_steps(ontology) if steps is None else steps
        label = label_by_former_path(ontology=ontology, path=spec.path, steps=steps)
        if label is not None:
            now_of[key] = label.path
            followed.append({"file": spec.path, "now": label.path})
            continue
        parent_key = path_key(PATH_SEPARATOR.join(spec.names[:-1]))
        if parent_key in now_of:  # new, under a label the file knows by a former path
            moved = replace(spec, names=(*now_of[parent_key].split(PATH_SEPARATOR), spec.names[-1]))
            if path_key(moved.path) in existing:  # it is there already: the same label
                now_of[key] = existing[path_key(moved.path)].path
                followed.append({"file": spec.path, "now": now_of[key]})
                continue
            now_of[key] = moved.path
            plan(moved)
            continue
        plan(spec)
    return out, followed


def _hotkeys_check(existing, to_create: list[LabelSpec]) -> None:
    owner: dict[str, str] = {}
    for label in existing:
        if label.hotkey:
            clash = owner.setdefault(hotkey_combo(label.hotkey), label.path)
            if clash != label.path:
                raise DomainError(
                    f"hotkey {label.hotkey!r} of label {label.path!r} would also be used by "
                    f"{clash!r}",
                    code="hotkey_collision",
                    extra={"label": label.path},
                )
    for spec in to_create:
        if spec.hotkey:
            clash = owner.setdefault(hotkey_combo(spec.hotkey), spec.path)
            if clash != spec.path:
                raise DomainError(
                    f"hotkey {spec.hotkey!r} of label {spec.path!r} is already used by {clash!r}",
                    code="hotkey_collision",
                    extra={"label": spec.path},
                )


def _labels_create(ontology: Ontology, existing: dict[str, Label], specs: list[LabelSpec]) -> int:
    """Create level by level: one INSERT per depth, parents' ids known before children's."""
    next_order: dict[int | None, int] = {}
    for label in existing.values():
        next_order[label.parent_id] = max(next_order.get(label.parent_id, 0), label.order + 1)
    by_depth: dict[int, list[LabelSpec]] = {}
    for spec in specs:
        by_depth.setdefault(len(spec.names) - 1, []).append(spec)
    for depth in sorted(by_depth):
        rows = []
        for spec in by_depth[depth]:
            parent = existing[path_key(PATH_SEPARATOR.join(spec.names[:-1]))] if depth else None
            parent_id = parent.pk if parent else None
            order = next_order.get(parent_id, 0)
            next_order[parent_id] = order + 1
            rows.append(
                Label(
                    ontology_id=ontology.pk,
                    parent_id=parent_id,
                    name=spec.names[-1],
                    path=f"{parent.path}{PATH_SEPARATOR}{spec.names[-1]}"
                    if parent
                    else spec.names[-1],
                    depth=depth,
                    order=order,
                    description=spec.description or "",
                    color=spec.color or "",
                    hotkey=spec.hotkey or "",
                    external_id=spec.external_id or "",
                    deprecated=bool(spec.deprecated),
                )
            )
        Label.objects.bulk_create(rows, batch_size=500)
        if any(row.pk is None for row in rows):  # a backend that cannot return ids
            ids = dict(
                Label.objects.filter(
                    ontology_id=ontology.pk, path__in=[r.path for r in rows]
                ).values_list("path", "pk")
            )
            for row in rows:
                row.pk = row.id = ids[row.path]
        for row in rows:
            existing[path_key(row.path)] = row
    return len(specs)


def ontology_export(*, ontology: Ontology, format: str) -> tuple[str, str, str]:
    """(text, content type, file name) of the current tree in `format`."""
    if format not in EXPORTS:
        raise DomainError(
            f"unknown export format {format!r}; choose one of {', '.join(EXPORTS)}", code="invalid"
        )
    tree = tree_for_ontology_id(ontology.pk)
    if format == "earmark":
        text = render_earmark(
            tree, name=ontology.name, description=ontology.description, version=tree.version
        )
    elif format == "audioset":
        text = render_audioset(tree)
    else:
        text = render_paths(tree)
    content_type, ext = EXPORTS[format]
    slug = "".join(ch if ch.isalnum() else "-" for ch in ontology.name.lower()).strip("-")
    return text, content_type, f"{slug or 'ontology'}-v{tree.version}-{format}.{ext}"
