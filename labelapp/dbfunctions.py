"""Text folded for comparing without case, of any letter, on every database.

SQLite's LOWER and LIKE fold ASCII letters only, so a name search for "été" missed "Été.wav" on
the embedded default (PostgreSQL folds every letter). A search on SQLite registers
EARMARK_FOLD, Python's str.casefold, on the connection it runs on (only there: not on every
connection every process opens)."""

from __future__ import annotations

from django.db.models import CharField, Func


def _fold(text):
    return text.casefold() if isinstance(text, str) else text


class Folded(Func):
    """`expression` casefolded on SQLite (EARMARK_FOLD), lowercased elsewhere."""

    function = "LOWER"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="EARMARK_FOLD", **extra)


def name_contains(qs, field: str, text: str):
    """Rows of `qs` whose `field` contains `text` ignoring case, of any letter."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return qs.filter(**{f"{field}__icontains": text})
    connection.ensure_connection()  # the one the query will run on (one per request)
    connection.connection.create_function("EARMARK_FOLD", 1, _fold, deterministic=True)
    return qs.alias(_folded=Folded(field)).filter(_folded__contains=_fold(text))
