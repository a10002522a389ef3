"""Ontology file formats: parse a file into label specs, render a tree into a file. No database.

- **earmark**: JSON, nested. `{"format": "earmark-ontology", "ontology": {"name", ...},
  "labels": [node, ...]}`, or a bare list of nodes, or a single node. A node is
  `{"name", "description", "color", "hotkey", "external_id", "deprecated", "children": [...]}`.
- **audioset**: the AudioSet ontology's flat JSON list; see `ontology.audioset`.
- **paths**: text, one `/`-separated path per line (blank lines and `#` comments skipped,
  missing ancestors implied); or CSV whose header has a `path` column and optionally
  `description`, `color`, `hotkey`, `external_id`, `deprecated`.

Every problem is a DomainError (400) whose message names the offending label or line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

from labelapp.errors import DomainError
from ontology.models import PATH_SEPARATOR
from ontology.rules import (
    PATH_MAX,
    hotkey_combo,
    label_color_validate,
    label_hotkey_validate,
    label_name_validate,
    path_key,
)

FORMATS = ("earmark", "audioset", "paths")
MAX_BYTES = 20 * 1024 * 1024
MAX_LABELS = 50_000
FORMAT_VERSION = 1  # of the Earmark JSON that render_earmark writes and _parse_earmark reads
CSV_COLUMNS = ("path", "description", "color", "hotkey", "external_id", "deprecated")
TRUE_WORDS = {"1", "true", "yes", "y", "x", "deprecated"}


@dataclass
class LabelSpec:
    """One label as a file describes it. None: the file does not say (keep what is stored)."""

    names: tuple[str, ...]
    where: str
    description: str | None = None
    color: str | None = None
    hotkey: str | None = None
    external_id: str | None = None
    deprecated: bool | None = None

    @property
    def path(self) -> str:
        return PATH_SEPARATOR.join(self.names)


@dataclass
class ParsedOntology:
    format: str
    labels: list[LabelSpec]  # parents before children, siblings in file order
    warnings: list[str] = field(default_factory=list)
    name: str = ""
    description: str = ""


def _bad(message: str, *, label: str | None = None, code: str = "invalid_file") -> DomainError:
    return DomainError(message, code=code, extra={"label": label} if label is not None else None)


def _name(raw, parent: tuple[str, ...], where: str, *, say_parent: bool = True) -> str:
    """A valid label name, or a 400 that says where in the file the bad one is."""
    under = f" under {PATH_SEPARATOR.join(parent)!r}" if parent and say_parent else ""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # {"name": 7}: a digit's label, written as a JSON number
    if raw is not None and not isinstance(raw, str):
        raise _bad(
            f"{where}{under}: a name must be text, not {json.dumps(raw)[:60]}",
            code="invalid_name",
            label=PATH_SEPARATOR.join(parent),
        )
    if raw is None or not raw.strip():
        raise _bad(
            f"{where}{under} has an empty name",
            code="empty_name",
            label=PATH_SEPARATOR.join(parent),
        )
    try:
        return label_name_validate(raw)
    except DomainError as exc:
        raise _bad(
            f"{where}{under}: {exc.message}",
            code=exc.code,
            label=PATH_SEPARATOR.join((*parent, raw.strip())),
        ) from None


def _text(node: dict, key: str, label: str) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _bad(f"label {label!r}: {key!r} must be a string", label=label)
    if key == "hotkey" and str(value) and not str(value).strip():
        return str(value)  # Space: refused by the hotkey's check (stripped, it cleared one)
    return str(value).strip()


def _flag(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def ontology_parse(
    content: bytes | str, *, format: str | None = None, json_only: bool = False
) -> ParsedOntology:
    """Parse and check a file: names, sibling duplicates, colors, hotkeys, cycles, parents.
    `json_only`: the file came as JSON (named .json, or a JSON body), so text that is not a
    JSON object or list is an error, not a list of paths (`42` was imported as a label)."""
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise _bad(f"the file is larger than {MAX_BYTES // 2**20} MB")
        if b"\x00" in content:
            raise _bad(
                "this is a binary file, not an ontology (Earmark JSON, AudioSet JSON, "
                "or a text/CSV list of paths)",
                code="wrong_format",
            )
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _bad(
                f"the file is not UTF-8 text (byte {exc.start})", code="wrong_format"
            ) from None
    text = content.lstrip("\ufeff")
    if not text.strip():
        raise _bad("the file is empty")
    if json_only and text.lstrip()[:1] not in ("[", "{"):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise _bad(
                "expected JSON (a .json file), but this is not JSON; a list of label paths "
                "is imported from a .txt or .csv file",
                code="wrong_format",
            ) from None
        raise _bad(
            "expected an ontology in JSON: an object or a list, not a single value "
            f"({text.strip()[:40]!r})",
            code="wrong_format",
        )
    detected, data = _detect(text)
    if format and format not in FORMATS:
        raise _bad(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if format and format != detected:
        raise _bad(
            f"expected the {format} format, but this file looks like {detected}",
            code="wrong_format",
        )
    from ontology.audioset import parse_audioset  # it builds on this module's helpers

    parser = {"earmark": _parse_earmark, "audioset": parse_audioset, "paths": _parse_paths}
    parsed = parser[detected](data)
    _specs_check(parsed.labels)
    return parsed


def _detect(text: str) -> tuple[str, object]:
    if text.lstrip()[:1] not in ("[", "{"):
        return "paths", text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            f"the file looks like JSON but is malformed: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}",
            code="malformed_file",
        ) from None
    except RecursionError:
        raise _bad("the file's JSON is nested too deeply", code="malformed_file") from None
    if isinstance(data, list):
        dicts = [x for x in data if isinstance(x, dict)]
        if dicts and all("data" in x and "name" not in x for x in dicts):
            # "label 1 at the top level has an empty name" said nothing of the mix-up.
            raise _bad(
                "this is a list of Label Studio tasks (audio and its annotations), not a label "
                "tree: import it with `manage.py import_audio` (its labels become the tree of "
                "a project without labels)",
                code="wrong_format",
            )
        if dicts and any("child_ids" in x for x in dicts):
            return "audioset", data
        if dicts and all("id" in x and "children" not in x for x in dicts):
            return "audioset", data
        return "earmark", data
    if isinstance(data, dict) and isinstance(data.get("ontology"), dict) and "clips" in data:
        # A project's whole Earmark JSON export (the exports page's "Earmark JSON"): its
        # label tree is its "ontology", labels listed flat by path (it was "unrecognized
        # JSON").
        return "earmark", _nested_from_export(data["ontology"])
    if isinstance(data, dict) and ("labels" in data or "name" in data):
        return "earmark", data
    raise _bad(
        'unrecognized JSON: expected Earmark JSON ({"labels": [...]} or nested '
        '{"name", "children"}) or an AudioSet ontology (a list of {"id", "name", "child_ids"})',
        code="wrong_format",
    )


def _nested_from_export(ontology: dict) -> dict:
    """The `ontology` of a project's Earmark JSON export (labels flat, each with its `path`,
    parents first) as the label tree's own format (nested `children`)."""
    labels = ontology.get("labels")
    if not isinstance(labels, list):
        raise _bad('the export\'s "ontology" has no "labels" list', code="malformed_file")
    roots: list[dict] = []
    by_path: dict[str, dict] = {}
    for i, label in enumerate(labels):
        if not isinstance(label, dict) or not isinstance(label.get("path"), str):
            raise _bad(f"label {i + 1} of the export has no path", code="malformed_file")
        path = label["path"]
        node = {
            key: label[key]
            for key in ("name", "description", "color", "hotkey", "external_id", "deprecated")
            if key in label
        }
        node["children"] = []
        parent, _, last = path.rpartition(PATH_SEPARATOR)
        # The path decides where a label goes; a name that is not its last part is a file
        # edited by hand, refused rather than read one way or the other.
        if node.setdefault("name", last) != last:
            raise _bad(
                f"label {path!r} of the export is named {node['name']!r}, not {last!r}",
                code="malformed_file",
                label=path,
            )
        if parent and parent not in by_path:
            later = any(isinstance(o, dict) and o.get("path") == parent for o in labels[i + 1 :])
            raise _bad(
                f"label {path!r} of the export comes before its parent {parent!r}"
                if later
                else f"label {path!r} of the export has no parent {parent!r} in the file",
                code="malformed_file",
                label=path,
            )
        (by_path[parent]["children"] if parent else roots).append(node)
        by_path[path] = node
    return {
        "ontology": {
            "name": ontology.get("name") or "",
            "description": ontology.get("description") or "",
        },
        "labels": roots,
    }


def _parse_earmark(data) -> ParsedOntology:
    name = description = ""
    nodes = data
    if isinstance(data, dict) and "labels" in data:
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _bad(
                f'"format_version" must be a whole number such as {FORMAT_VERSION}, '
                f"not {json.dumps(version)[:60]}",
                code="malformed_file",
            )
        if version > FORMAT_VERSION:
            raise _bad(
                f"this file is Earmark ontology format version {version}, written by a newer "
                f"Earmark; this one reads version {FORMAT_VERSION}. Export it from the newer "
                "Earmark as a paths CSV, or upgrade this one",
                code="wrong_format",
            )
        meta = data.get("ontology") or {}
        if isinstance(meta, dict):
            name = str(meta.get("name") or "").strip()
            description = str(meta.get("description") or "").strip()
        nodes = data["labels"]
    elif isinstance(data, dict):
        nodes = [data]
    if not isinstance(nodes, list):
        raise _bad('"labels" must be a list of {"name", "children"} objects', code="malformed_file")
    specs: list[LabelSpec] = []
    stack = [(node, (), f"label {i + 1} at the top level") for i, node in enumerate(nodes)][::-1]
    while stack:
        node, parent, where = stack.pop()
        if not isinstance(node, dict):
            raise _bad(
                f'{where}: expected an object with a "name"',
                code="malformed_file",
                label=PATH_SEPARATOR.join(parent),
            )
        names = (*parent, _name(node.get("name"), parent, where, say_parent=False))
        path = PATH_SEPARATOR.join(names)
        specs.append(
            LabelSpec(
                names,
                where,
                description=_text(node, "description", path),
                color=_text(node, "color", path),
                hotkey=_text(node, "hotkey", path),
                external_id=_text(node, "external_id", path),
                deprecated=_flag(node.get("deprecated")),
            )
        )
        children = node.get("children") or []
        if not isinstance(children, list):
            raise _bad(
                f'label {path!r}: "children" must be a list', code="malformed_file", label=path
            )
        stack.extend(
            reversed(
                [(child, names, f"child {j + 1} of {path!r}") for j, child in enumerate(children)]
            )
        )
    return ParsedOntology("earmark", specs, name=name, description=description)


def _paths_rows(text: str) -> list[tuple[int, dict]]:
    """(line number, {column: value}) for each label line; CSV when the header names `path`."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    try:
        header = [c.strip().lower() for c in next(csv.reader([lines[first]]))]
        if "path" not in header:
            return [
                (n, {"path": line})
                for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
        unknown = [c for c in header if c not in CSV_COLUMNS]
        if unknown:
            raise _bad(
                f"unknown CSV column {unknown[0]!r} (known: {', '.join(CSV_COLUMNS)})",
                code="malformed_file",
            )
        return [
            (first + offset + 2, dict(zip(header, cells, strict=False)))
            for offset, cells in enumerate(csv.reader(lines[first + 1 :]))
            if any(c.strip() for c in cells)
        ]
    except csv.Error as exc:
        raise _bad(f"the CSV file is malformed: {exc}", code="malformed_file") from None


def _parse_paths(text: str) -> ParsedOntology:
    specs: dict[str, LabelSpec] = {}  # lower-cased path -> spec, implied ancestors included
    listed: set[str] = set()
    warnings = []
    for number, row in _paths_rows(text):
        raw = (row.get("path") or "").strip()
        if len(raw) > PATH_MAX:
            raise _bad(
                f"line {number}: the path is longer than {PATH_MAX} characters",
                code="path_too_long",
                label=raw[:60],
            )
        if "\\" + PATH_SEPARATOR in raw:
            # "valves/3\/2 way" made a label "3\" with a child "2 way".
            raise _bad(
                f"line {number}: \"{raw}\": a label name cannot hold '{PATH_SEPARATOR}' (escaped "
                f"or not: '{PATH_SEPARATOR}' always separates a path's names); write it another "
                f'way, as "{raw.replace(chr(92) + PATH_SEPARATOR, "-")}"',
                code="invalid_name",
                label=raw[:60],
            )
        names: tuple[str, ...] = ()
        for part in raw.split(PATH_SEPARATOR):
            names = (*names, _name(part, names, f"line {number}: {raw!r}"))
            known = specs.get(path_key(PATH_SEPARATOR.join(names)))
            if known is None:
                specs[path_key(PATH_SEPARATOR.join(names))] = LabelSpec(names, f"line {number}")
            elif known.names != names:
                raise _bad(
                    f"line {number}: {PATH_SEPARATOR.join(names)!r} and {known.path!r} "
                    f"({known.where}) differ only in case; sibling names must differ ignoring "
                    "case",
                    code="duplicate_label",
                    label=PATH_SEPARATOR.join(names),
                )
        key = path_key(PATH_SEPARATOR.join(names))
        spec = specs[key]
        if key in listed:
            warnings.append(f"line {number} repeats {spec.path!r} ({spec.where}); kept the first")
            continue
        listed.add(key)
        spec.where = f"line {number}"
        for column in ("description", "color", "hotkey", "external_id"):
            if (row.get(column) or "").strip():
                setattr(spec, column, row[column].strip())
        spec.deprecated = _flag(row.get("deprecated"))
    return ParsedOntology("paths", list(specs.values()), warnings=warnings)


def _specs_check(specs: list[LabelSpec]) -> None:
    if not specs:
        raise _bad("the file has no labels")
    if len(specs) > MAX_LABELS:
        raise _bad(f"the file has {len(specs)} labels; at most {MAX_LABELS} are accepted")
    siblings: dict[str, LabelSpec] = {}
    hotkeys: dict[str, LabelSpec] = {}
    for spec in specs:
        path = spec.path
        if len(path) > PATH_MAX:
            raise _bad(
                f"label {path[:60]!r}...: the path is longer than {PATH_MAX} characters",
                code="path_too_long",
                label=path,
            )
        key = path_key(path)
        if key in siblings:
            other = siblings[key]
            parent = PATH_SEPARATOR.join(spec.names[:-1]) or "the top level"
            raise _bad(
                f"duplicate label {path!r} ({spec.where}; also {other.path!r}, {other.where}): "
                f"names under {parent!r} must differ ignoring case",
                code="duplicate_label",
                label=path,
            )
        siblings[key] = spec
        if spec.color is not None:
            spec.color = label_color_validate(spec.color, label=path)
        if spec.hotkey is not None:
            spec.hotkey = label_hotkey_validate(spec.hotkey, label=path, browser_keys=False)
            clash = hotkeys.get(hotkey_combo(spec.hotkey))
            if spec.hotkey and clash is not None:
                raise _bad(
                    f"hotkey {spec.hotkey!r} is used by both {clash.path!r} and {path!r}",
                    code="hotkey_collision",
                    label=path,
                )
            if spec.hotkey:
                hotkeys[hotkey_combo(spec.hotkey)] = spec


def render_earmark(tree, *, name: str = "", description: str = "", version: int = 0) -> str:
    """Nested JSON that `ontology_parse` reads back to the same tree."""
    roots: list[dict] = []
    by_id: dict[int, dict] = {}
    for n in tree.ordered:
        node = {
            "name": n.name,
            "description": n.description,
            "color": n.color,
            "hotkey": n.hotkey,
            "external_id": n.external_id,
            "deprecated": n.deprecated,
            "children": [],
        }
        by_id[n.id] = node
        (roots if n.parent_id is None else by_id[n.parent_id]["children"]).append(node)
    doc = {
        "format": "earmark-ontology",
        "format_version": FORMAT_VERSION,
        "ontology": {"name": name, "description": description, "version": version},
        "labels": roots,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_paths(tree) -> str:
    """One `/`-separated path per line, every label once, parents before children."""
    return "".join(f"{n.path}\n" for n in tree.ordered)
