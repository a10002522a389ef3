"""The AudioSet ontology format: a flat list of `{"id", "name", "description", "child_ids",
"restrictions"}` (github.com/audioset/ontology).

Earmark labels have one parent. A class that several parents list in `child_ids` stays under
the parent that comes **first in the file**; every dropped link is reported as a warning.
`"restrictions": ["blacklist"]` imports as deprecated and deprecated exports as blacklist.
Labels without an external id export with the id `earmark:<label id>`, which an import does
not keep as an external id.
"""

from __future__ import annotations

import json
from collections import defaultdict

from ontology.formats import LabelSpec, ParsedOntology, _bad, _name, _text

GENERATED_ID_PREFIX = "earmark:"


def parse_audioset(data: list) -> ParsedOntology:
    items: dict[str, dict] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise _bad(
                f'item {i + 1}: expected an object with "id", "name" and "child_ids"',
                code="malformed_file",
            )
        aid, name = item.get("id"), item.get("name")
        if not isinstance(aid, str) or not aid.strip():
            raise _bad(
                f'item {i + 1} ({name!r}) has no "id"', code="malformed_file", label=str(name)
            )
        if aid in items:
            raise _bad(
                f"duplicate AudioSet id {aid!r} (labels {items[aid].get('name')!r} and {name!r})",
                code="duplicate_label",
                label=str(name),
            )
        kids = item.get("child_ids", [])
        if not isinstance(kids, list) or not all(isinstance(k, str) for k in kids):
            raise _bad(
                f'label {name!r} ({aid}): "child_ids" must be a list of ids',
                code="malformed_file",
                label=str(name),
            )
        items[aid] = item
    label = {aid: f"{item.get('name')!r} ({aid})" for aid, item in items.items()}
    kids_of = {aid: list(dict.fromkeys(item.get("child_ids") or [])) for aid, item in items.items()}
    for aid, kids in kids_of.items():
        for kid in kids:
            if kid == aid:
                raise _bad(
                    f"label {label[aid]} lists itself in child_ids: a label cannot be "
                    "its own ancestor",
                    code="cycle",
                    label=str(items[aid].get("name")),
                )
            if kid not in items:
                raise _bad(
                    f"label {label[aid]} lists child id {kid!r}, which is not in the file",
                    code="dangling_child",
                    label=str(items[aid].get("name")),
                )
    _audioset_cycle_check(kids_of, label, items)

    parent: dict[str, str] = {}
    dropped: dict[str, list[str]] = defaultdict(list)
    for aid, kids in kids_of.items():  # file order: the first parent listed wins
        for kid in kids:
            if kid in parent:
                dropped[kid].append(aid)
            else:
                parent[kid] = aid
    warnings = [
        f"label {label[kid]} has {len(others) + 1} parents in the file; kept under "
        f"{items[parent[kid]].get('name')!r} (the first parent in the file), dropped "
        + ", ".join(repr(items[o].get("name")) for o in others)
        for kid, others in dropped.items()
    ]
    specs: list[LabelSpec] = []
    roots = [aid for aid in items if aid not in parent]
    stack = [(aid, ()) for aid in reversed(roots)]
    while stack:
        aid, names_above = stack.pop()
        item = items[aid]
        names = (*names_above, _name(item.get("name"), names_above, f"label {aid!r}"))
        restrictions = item.get("restrictions") or []
        external_id = None if aid.startswith(GENERATED_ID_PREFIX) else aid.strip()
        specs.append(
            LabelSpec(
                names,
                f"label {aid!r}",
                description=_text(item, "description", aid),
                color=_text(item, "color", aid),
                hotkey=_text(item, "hotkey", aid),
                external_id=external_id,
                deprecated=True if "blacklist" in restrictions else None,
            )
        )
        stack.extend((kid, names) for kid in reversed(kids_of[aid]) if parent.get(kid) == aid)
    return ParsedOntology("audioset", specs, warnings=warnings)


def _audioset_cycle_check(kids_of: dict[str, list[str]], label: dict, items: dict) -> None:
    """Iterative depth-first search; a back edge is a cycle, reported with its whole loop."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in kids_of:
        if start in state:
            continue
        path, iters = [start], [iter(kids_of[start])]
        state[start] = 1
        while path:
            kid = next(iters[-1], None)
            if kid is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(kid) == 1:
                loop = path[path.index(kid) :] + [kid]
                raise _bad(
                    "cycle in child_ids: "
                    + " → ".join(label[a] for a in loop)
                    + ": a label cannot be its own ancestor",
                    code="cycle",
                    label=str(items[kid].get("name")),
                )
            elif kid not in state:
                state[kid] = 1
                path.append(kid)
                iters.append(iter(kids_of[kid]))


def render_audioset(tree) -> str:
    """The AudioSet ontology format; labels without an external id get `earmark:<id>`."""
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for n in tree.ordered:
        aid = n.external_id if n.external_id and n.external_id not in taken else ""
        ids[n.id] = aid or f"{GENERATED_ID_PREFIX}{n.id}"
        taken.add(ids[n.id])
    items = [
        {
            "id": ids[n.id],
            "name": n.name,
            "description": n.description,
            "citation_uri": "",
            "positive_examples": [],
            "child_ids": [ids[c] for c in tree.children.get(n.id, [])],
            "restrictions": ["blacklist"] if n.deprecated else [],
        }
        for n in tree.ordered
    ]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
