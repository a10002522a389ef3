"""The whole label tree of an ontology in memory, cached per ontology version.

Why a cache: the annotation UI asks for the whole tree on every page load, and pickers, exports
and training ask for ancestors and descendants all the time. One query of ~600 rows builds the
tree; it is then reused until the ontology changes. The cache is process-local but never
stale across processes: its key is (ontology id, version, updated_at), all read from the
database row, and every write through `ontology.services` moves both.

Ancestor expansion ("labeling a child implies its ancestors") needs no tree at all: a label's
`path` already names its ancestors, so `paths_with_ancestors` costs zero queries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, fields

from ontology.models import PATH_SEPARATOR, Label, Ontology

CACHE_SIZE = 64  # trees kept per process; a 600-label tree is ~0.5 MB
_cache: OrderedDict[tuple, LabelTree] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LabelNode:
    id: int
    parent_id: int | None
    name: str
    path: str
    depth: int
    order: int
    color: str
    hotkey: str
    description: str
    external_id: str
    deprecated: bool

    @property
    def ancestor_paths(self) -> list[str]:
        parts = self.path.split(PATH_SEPARATOR)
        return [PATH_SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]


NODE_FIELDS = tuple(f.name for f in fields(LabelNode))  # also the Label columns read


class LabelTree:
    """An immutable snapshot of one ontology version's labels, in display order."""

    def __init__(self, ontology_id: int, version: int, nodes: Iterable[LabelNode]):
        self.ontology_id = ontology_id
        self.version = version
        self.nodes: dict[int, LabelNode] = {n.id: n for n in nodes}
        self.children: dict[int | None, list[int]] = {}
        for node in sorted(self.nodes.values(), key=lambda n: (n.order, n.name.lower(), n.id)):
            self.children.setdefault(node.parent_id, []).append(node.id)
        self.ordered: list[LabelNode] = self._preorder()
        # Labels that cannot be chosen: deprecated, or under a deprecated label (a lead who
        # deprecates "bat" means its kinds too; they were offered under "mammals" instead).
        self.retired: set[int] = set()
        for node in self.ordered:  # parents come first
            if node.deprecated or node.parent_id in self.retired:
                self.retired.add(node.id)
        # The others, by id: what suggestions may offer (built once per tree, not per clip).
        self.available = {n.id: n for n in self.ordered if n.id not in self.retired}
        # ... and of those, the leaves: what a leaves-only project's suggestions may offer (a
        # label given kinds after the model learned it was suggested, and refused at submit).
        self.available_leaves = {
            i: n for i, n in self.available.items() if not self.children.get(i)
        }
        self._by_path = {n.path.lower(): n.id for n in self.nodes.values()}
        self._payload: list[dict] | None = None

    def choosable(self, *, leaves_only: bool) -> dict[int, LabelNode]:
        return self.available_leaves if leaves_only else self.available

    def _preorder(self) -> list[LabelNode]:
        out: list[LabelNode] = []
        stack = list(reversed(self.children.get(None, [])))
        while stack:
            node_id = stack.pop()
            out.append(self.nodes[node_id])
            stack.extend(reversed(self.children.get(node_id, [])))
        return out

    def __len__(self) -> int:
        return len(self.nodes)

    def by_path(self, path: str) -> LabelNode | None:
        node_id = self._by_path.get(str(path).strip().lower())
        return None if node_id is None else self.nodes[node_id]

    def is_leaf(self, label_id: int) -> bool:
        return not self.children.get(label_id)

    def ancestors(self, label_id: int) -> list[LabelNode]:
        """Root first, the label itself excluded."""
        chain = []
        parent = self.nodes[label_id].parent_id
        while parent is not None:
            chain.append(self.nodes[parent])
            parent = self.nodes[parent].parent_id
        return chain[::-1]

    def descendants(self, label_id: int) -> list[LabelNode]:
        """In display order, the label itself excluded."""
        out: list[LabelNode] = []
        stack = list(reversed(self.children.get(label_id, [])))
        while stack:
            node_id = stack.pop()
            out.append(self.nodes[node_id])
            stack.extend(reversed(self.children.get(node_id, [])))
        return out

    def parent_indices(self) -> tuple[list[int], list[int]]:
        """(label ids in display order, parent index of each or -1): what ml_backend.hierarchy
        takes."""
        ids = [n.id for n in self.ordered]
        index = {pk: i for i, pk in enumerate(ids)}
        return ids, [index[n.parent_id] if n.parent_id is not None else -1 for n in self.ordered]

    def payload(self) -> list[dict]:
        """The flat list the API serves, built once per tree. Callers must not mutate it."""
        if self._payload is None:
            self._payload = [
                {
                    "id": n.id,
                    "name": n.name,
                    "path": n.path,
                    "parent": n.parent_id,
                    "depth": n.depth,
                    "order": n.order,
                    "color": n.color,
                    "hotkey": n.hotkey,
                    "description": n.description,
                    "external_id": n.external_id,
                    "deprecated": n.deprecated,
                    "available": n.id not in self.retired,
                    "leaf": self.is_leaf(n.id),
                }
                for n in self.ordered
            ]
        return self._payload


def tree_build(ontology: Ontology) -> LabelTree:
    """One query, no cache."""
    rows = Label.objects.filter(ontology_id=ontology.pk).order_by().values_list(*NODE_FIELDS)
    return LabelTree(ontology.pk, ontology.version, (LabelNode(*row) for row in rows))


def tree_get(ontology: Ontology) -> LabelTree:
    """The tree of `ontology` as of the version this instance was read at."""
    key = (ontology.pk, ontology.version, ontology.updated_at)
    with _cache_lock:
        tree = _cache.get(key)
        if tree is not None:
            _cache.move_to_end(key)
            return tree
    tree = tree_build(ontology)
    with _cache_lock:
        _cache[key] = tree
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return tree


def tree_for_ontology_id(ontology_id: int) -> LabelTree:
    """The current tree: one small query for the version, then the cache."""
    return tree_get(Ontology.objects.only("id", "version", "updated_at").get(pk=ontology_id))


def tree_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def paths_with_ancestors(labels: Iterable) -> list[str]:
    """Paths of `labels` (Label rows or nodes) and all their ancestors, each once, ancestors
    before descendants. Zero queries: a path names its ancestors."""
    seen: dict[str, None] = {}
    for label in labels:
        for path in [*label.ancestor_paths, label.path]:
            seen.setdefault(path, None)
    return list(seen)


def labels_with_ancestors(labels: Iterable[Label]) -> list[Label]:
    """`labels` plus their ancestor rows, each once, ancestors first: one query in all."""
    labels = list(labels)
    if not labels:
        return []
    wanted = paths_with_ancestors(labels)
    have = {lb.path: lb for lb in labels}
    missing = [p for p in wanted if p not in have]
    if missing:
        ontology_ids = {lb.ontology_id for lb in labels}
        for row in Label.objects.filter(ontology_id__in=ontology_ids, path__in=missing):
            have.setdefault(row.path, row)
    return [have[p] for p in wanted if p in have]


def labels_collapse(labels: Iterable) -> list:
    """Drop labels that are ancestors of another label in the list: what "labeling a child
    implies its ancestors, stored once" stores. Order kept, zero queries."""
    labels = list(labels)
    implied = {p.lower() for lb in labels for p in lb.ancestor_paths}
    out, seen = [], set()
    for label in labels:
        key = label.path.lower()
        if key not in implied and key not in seen:
            seen.add(key)
            out.append(label)
    return out
