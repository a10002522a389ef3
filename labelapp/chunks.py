"""Long id lists in several queries. SQLite caps a statement's parameters: 32,766 in its
default build since 3.32 (999 before; the priority writes need 3.33 anyway), 250,000 in
Debian's, and a build may set it lower; so `pk__in=` a large project's worth of ids can fail
there. The limit is read from the linked library itself, at call time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from django.db import connection

ID_CHUNK = 5000  # ids per query where the database allows it
ROOM = 50  # parameters left for the rest of a statement (filters beside the id list)


def max_parameters() -> int | None:
    """Parameters one statement may carry on the default connection; None: no limit that a
    project reaches (PostgreSQL, where Django binds parameters on the client)."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params


def rows_per_statement(params_per_row: int, most: int) -> int:
    """How many rows of `params_per_row` parameters one statement may carry: at most `most`,
    and within the database's limit."""
    limit = max_parameters()
    if not limit:
        return most
    return max(1, min(most, (limit - ROOM) // params_per_row))


def id_chunks(ids: Iterable[int], size: int | None = None) -> Iterator[list[int]]:
    """`ids` as consecutive lists of at most `size` (default: ID_CHUNK, or fewer where the
    database's parameter limit asks for it); an empty input yields nothing."""
    items = list(ids)
    size = size or rows_per_statement(1, ID_CHUNK)
    for start in range(0, len(items), size):
        yield items[start : start + size]
