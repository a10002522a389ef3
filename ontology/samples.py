"""Generated ontologies of a realistic shape, for tests and benchmarks.

`audioset_like()` returns a file in the AudioSet ontology format shaped like AudioSet itself:
632 classes under its 7 top-level categories, up to 6 levels deep, a few classes listed by
two parents, and the file not sorted parents-first.
"""

from __future__ import annotations

import random

AUDIOSET_ROOTS = (
    "Human sounds",
    "Animal",
    "Music",
    "Natural sounds",
    "Sounds of things",
    "Source-ambiguous sounds",
    "Channel, environment and background",
)
WORDS = (
    "hum",
    "click",
    "roar",
    "chirp",
    "whistle",
    "rumble",
    "crackle",
    "buzz",
    "knock",
    "hiss",
    "drone",
    "squeak",
    "splash",
    "thud",
    "ring",
    "tap",
    "growl",
    "beep",
    "rustle",
    "clang",
)
MAX_DEPTH = 5  # 0-based: six levels, as in AudioSet


def audioset_like(n_labels: int = 632, *, extra_parents: int = 24, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items: list[dict] = []
    depth: dict[str, int] = {}
    for i, name in enumerate(AUDIOSET_ROOTS):
        items.append(_item(f"/m/r{i}", name))
        depth[items[-1]["id"]] = 0
    while len(items) < n_labels:
        # Shallow parents more often: AudioSet is wide near the top.
        candidates = [it for it in items if depth[it["id"]] < MAX_DEPTH]
        weights = [1.0 / (1 + depth[it["id"]]) ** 2 for it in candidates]
        parent = rng.choices(candidates, weights)[0]
        n = len(items)
        child = _item(f"/m/{n:05x}", f"{rng.choice(WORDS).capitalize()} {n}")
        parent["child_ids"].append(child["id"])
        depth[child["id"]] = depth[parent["id"]] + 1
        items.append(child)
    for child in rng.sample(items[len(AUDIOSET_ROOTS) :], extra_parents):
        # A shallower second parent can never be a descendant: no cycle is possible.
        parents = [
            it
            for it in items
            if depth[it["id"]] < depth[child["id"]] and child["id"] not in it["child_ids"]
        ]
        rng.choice(parents)["child_ids"].append(child["id"])
    rng.shuffle(items)
    return items


def _item(aid: str, name: str) -> dict:
    return {
        "id": aid,
        "name": name,
        "description": f"{name}: a generated class.",
        "citation_uri": "",
        "positive_examples": [],
        "child_ids": [],
        "restrictions": [],
    }
