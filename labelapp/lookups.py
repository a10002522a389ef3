"""Matching text ignoring case, of any letter, on every database."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet


def plain_int(text) -> int | None:
    """`text` as a whole number written with ASCII digits only ("12"), else None: a digit
    int() refuses ("²") or reads otherwise ("١٢", " 12", "+1", "1.5") is no id or page."""
    text = str(text)
    return int(text) if text.isascii() and text.isdigit() else None


def rows_ignoring_case(
    qs: QuerySet, field: str, value: str, *, limit: int = 1, key: Callable[[str], str] | None = None
) -> list:
    """Up to `limit` rows of `qs` (in id order where compared here) whose `field` equals
    `value` ignoring case. The database's own match first; where it finds none, the rows are
    compared here by `key` (casefold when not given): SQLite's match folds ASCII only
    ("Äpfel" is not "äpfel" there), PostgreSQL's every letter but not every spelling (ß and
    SS), and a `key` may leave more out (joiners: ontology.rules.name_key). A miss reads
    `field` of every row of `qs`: narrow it first."""
    rows = list(qs.filter(**{f"{field}__iexact": value})[:limit])
    if rows:
        return rows
    # casefold, not lower: "Straße" and "STRASSE" are one name ignoring case (lower keeps ß)
    key = key or str.casefold
    wanted = key(value)
    hits = [pk for pk, text in qs.values_list("pk", field) if key(text) == wanted][:limit]
    return list(qs.filter(pk__in=hits).order_by("pk")) if hits else []
