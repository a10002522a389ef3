"""Text folded for comparing without case, of any letter, on every database.

SQLite's LOWER and LIKE fold ASCII letters only, so a name search for "été" missed "Été.wav" on
the embedded default (PostgreSQL folds every letter). A search on SQLite registers
EARMARK_FOLD, Python's str.casefold, on the connection it runs on (only there: not on every
connection every process opens).

Accents are compared however they are written: "café" typed (one code point for é, NFC) found
no "café.wav" named on a Mac (e and a combining accent, NFD)."""

from __future__ import annotations

import unicodedata

from django.db.models import CharField, Func, Q


def _fold(text):
    return unicodedata.normalize("NFC", text).casefold() if isinstance(text, str) else text


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
        forms = {unicodedata.normalize(form, text) for form in ("NFC", "NFD")}
        match = Q()
        for form in forms:
            match |= Q(**{f"{field}__icontains": form})
        return qs.filter(match)
    connection.ensure_connection()  # the one the query will run on (one per request)
    connection.connection.create_function("EARMARK_FOLD", 1, _fold, deterministic=True)
    return qs.alias(_folded=Folded(field)).filter(_folded__contains=_fold(text))
