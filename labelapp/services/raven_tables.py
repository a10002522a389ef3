"""Raven selection tables as an import: the boxes bioacoustics teams already drew in Raven Pro
(or exported from Earmark, or from Kaleidoscope and opensoundscape in Raven's format) come in
as segments with their times, frequency band and labels, on the recordings beside the table.

A table is tab-separated text with Raven's columns: `Begin Time (s)` and `End Time (s)`
(required), `Low Freq (Hz)` and `High Freq (Hz)` (the band; a selection of the whole height is
every frequency), `Channel` (from 1), `View` (a selection is listed once per view: the
spectrogram's rows are read, the waveform's duplicates are not), `Begin File` (the recording,
found beside the table; without it, Raven's own name for a table, `<recording>.Table.1.
selections.txt`, names it) and a label column: `Annotation` (Earmark's, label paths with `;`
between two), else `Species`, `Label`, `Class`, `Call Type` or `Sound Type`. Earmark's own
`Kind` column keeps clip labels as clip labels.
"""

from __future__ import annotations

import csv
import re
from collections import OrderedDict
from pathlib import Path

from labelapp.errors import DomainError
from labelapp.services.imports import AUDIO_EXTENSIONS, ImportItem

BEGIN, END = "Begin Time (s)", "End Time (s)"
LOW, HIGH = "Low Freq (Hz)", "High Freq (Hz)"
LABEL_COLUMNS = ("Annotation", "Species", "Label", "Class", "Call Type", "Sound Type")
# Raven's name for a table saved beside its recording: "dawn.Table.1.selections.txt".
RAVEN_TABLE_NAME = re.compile(r"^(?P<stem>.+?)\.Table\.\d+\.selections$", re.IGNORECASE)


def is_raven_table(path: Path) -> bool:
    """A .txt file whose first line has Raven's time columns."""
    if path.suffix.lower() != ".txt" or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            head = fh.readline()
    except OSError:
        return False
    columns = [c.strip() for c in head.rstrip("\r\n").split("\t")]
    return BEGIN in columns and END in columns


def items_from_raven(table: Path) -> list[ImportItem]:
    """The recordings a Raven selection table names, each with its selections as segments
    (and, from an Earmark table, its clip labels). A row that cannot be read is its
    recording's error, naming the row; the others go on."""
    try:
        with open(table, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except UnicodeDecodeError:
        raise DomainError(f"{table.name}: the selection table is not UTF-8 text") from None
    except OSError as exc:
        raise DomainError(f"cannot read {table}: {exc.strerror or exc}") from None
    if BEGIN not in columns or END not in columns:
        raise DomainError(f"{table.name}: a Raven selection table needs {BEGIN!r} and {END!r}")
    label_column = next((c for c in LABEL_COLUMNS if c in columns), None)
    if label_column is None:
        raise DomainError(
            f"{table.name}: no column of labels: name it one of {', '.join(LABEL_COLUMNS)} "
            f"(found: {', '.join(columns)})"
        )
    views = {r.get("View", "") for r in rows}
    spectrogram_rows = any(v.lower().startswith("spectrogram") for v in views)
    items: OrderedDict[Path, ImportItem] = OrderedDict()
    # Per recording: each box's channels, to tell a box on every channel (Earmark writes one
    # row per channel) from one on some.
    boxes: dict[Path, OrderedDict[tuple, set[int]]] = {}
    channels_seen: dict[Path, set[int]] = {}
    rows_of: dict[tuple, int] = {}
    seen_selections: set[tuple] = set()
    for line, row in enumerate(rows, start=2):
        view = row.get("View", "")
        if spectrogram_rows and view and not view.lower().startswith("spectrogram"):
            continue  # the waveform's copy of a spectrogram's selection
        path, error = _recording(table, row)
        item = items.get(path)
        if item is None:
            item = items[path] = _item(path, error)
            boxes[path] = OrderedDict()
            channels_seen[path] = set()
        if item.error:
            continue
        selection = row.get("Selection", "")
        if selection and (path, selection) in seen_selections:
            continue  # one selection listed again (another view's row)
        seen_selections.add((path, selection))
        try:
            start, end = _number(row, BEGIN, line), _number(row, END, line)
            channel = int(_number(row, "Channel", line) or 1) if row.get("Channel") else 1
            labels = [p.strip() for p in row.get(label_column, "").split(";") if p.strip()]
            if not labels:
                raise ValueError(f"row {line}: no label in its {label_column!r} column")
        except ValueError as exc:
            item.error = str(exc)
            continue
        if row.get("Kind", "").lower() == "clip":
            item.clip_labels.extend(p for p in labels if p not in item.clip_labels)
            continue
        low, high = row.get(LOW, ""), row.get(HIGH, "")
        key = (start, end, low, high, tuple(labels))
        boxes[path].setdefault(key, set()).add(channel)
        rows_of.setdefault((path, key), line)
        channels_seen[path].add(channel)
    for path, item in items.items():
        if item.error:
            continue
        every = channels_seen[path]
        for key, chans in boxes[path].items():
            start, end, low, high, labels = key
            band = {"low_freq": low, "high_freq": high} if low or high else {}
            # on every channel the table has (a mono recording's "1" too): all channels
            on = [None] if chans == every else sorted(c - 1 for c in chans)
            for channel in on:
                item.segments.append(
                    {
                        "start": start,
                        "end": end,
                        "labels": list(labels),
                        **band,
                        **({"channel": channel} if channel is not None else {}),
                        "row": rows_of[(path, key)],
                    }
                )
    return list(items.values())


def _number(row: dict, column: str, line: int) -> float:
    raw = row.get(column, "")
    try:
        return float(raw.replace(",", "."))
    except ValueError:
        raise ValueError(f"row {line}: {column} {raw!r} is not a number") from None


def _recording(table: Path, row: dict) -> tuple[Path, str]:
    """The recording a row is of, beside the table, and an error when it is not there."""
    named = row.get("Begin File", "")
    if named:
        path = table.parent / Path(named.replace("\\", "/")).name
        return path, "" if path.is_file() else f"{named} not found beside {table.name}"
    match = RAVEN_TABLE_NAME.match(table.stem)
    if match:
        for candidate in sorted(table.parent.glob(f"{glob_escape(match['stem'])}.*")):
            if candidate.suffix.lower() in AUDIO_EXTENSIONS:
                return candidate, ""
    missing = table.parent / (match["stem"] if match else table.stem)
    return missing, (
        f"{table.name} names no recording: give it a 'Begin File' column, or name it as Raven "
        "does (<recording>.Table.1.selections.txt) beside the recording"
    )


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _item(path: Path, error: str) -> ImportItem:
    if error:
        return ImportItem(name=path.name, error=error)
    return ImportItem(name=path.name, path=path)
