"""Long id lists in several queries. SQLite caps a statement's parameters (32,766 in its
default build since 3.32, 999 before), so `pk__in=` a large project's worth of ids fails
there; each chunk stays far below any of those limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

ID_CHUNK = 5000


def id_chunks(ids: Iterable[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    """`ids` as consecutive lists of at most `size` (an empty input yields nothing)."""
    items = list(ids)
    for start in range(0, len(items), size):
        yield items[start : start + size]
