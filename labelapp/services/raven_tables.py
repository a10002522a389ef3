"""Raven selection tables as an import: the boxes bioacoustics teams already drew in Raven Pro
(or exported from Earmark, or from Kaleidoscope and opensoundscape in Raven's format) come in
as segments with their times, frequency band and labels, on the recordings beside the table.

A table is tab-separated text with Raven's columns: `Begin Time (s)` and `End Time (s)`
(required), `Low Freq (Hz)` and `High Freq (Hz)` (the band; a selection of the whole height is
every frequency), `Channel` (from 1), `View` (a selection is listed once per view: the
spectrogram's rows are read, the waveform's duplicates are not), `Begin File` or `Begin
Path` (the recording, found beside the table by its name; without either, Raven's own name for
a table, `<recording>.Table.1.selections.txt`, names it) and a label column, the first of
LABEL_COLUMNS that holds any label (any case): `Annotation` (Earmark's, label paths with `;`
between two), `Species`, BirdNET's `Common Name`... A selection without a label is passed over
(it is not an annotation yet). Earmark's own `Kind` column keeps clip labels as clip labels,
and its `Annotator` and `Status` columns give each member their own annotation. Text that is
not UTF-8 is read as Windows-1252 (Raven on Windows). `File Offset (s)`, where a table spans a
sequence of files, places a selection in its own file; a box's top above the recording's
Nyquist frequency (BirdNET writes 15,000 Hz whatever the rate) is cut to it. A `Confidence`
(BirdNET's) or `Score` column gives each selection its score (kept when the table is imported
as a model's suggestions: labelapp.services.label_imports).
"""

from __future__ import annotations

import csv
import glob
import io
import re
from collections import OrderedDict
from pathlib import Path, PureWindowsPath
from typing import Protocol

from labelapp.audio import AudioError, probe
from labelapp.errors import DomainError
from labelapp.services.imports import AUDIO_EXTENSIONS, ImportItem

BEGIN, END = "Begin Time (s)", "End Time (s)"
LOW, HIGH = "Low Freq (Hz)", "High Freq (Hz)"
LABEL_COLUMNS = (
    "Annotation",
    "Species",
    "Common Name",  # BirdNET's selection tables
    "Label",
    "Class",
    "Call Type",
    "Sound Type",
    "Species Code",
    "Scientific Name",
)
KEPT_STATUSES = ("submitted", "accepted")  # an Earmark table's; others come in as submitted
# Raven's name for a table saved beside its recording: "dawn.Table.1.selections.txt";
# BirdNET-Analyzer's: "dawn.BirdNET.selection.table.txt".
RAVEN_TABLE_NAME = re.compile(
    r"^(?P<stem>.+?)\.(?:Table\.\d+\.selections|BirdNET\.selection\.table)$", re.IGNORECASE
)


def is_raven_table(path: Path) -> bool:
    """A .txt (or .tsv) file whose first line has Raven's begin time column (the rest is
    checked by `items_from_raven`, which says what is missing)."""
    if path.suffix.lower() not in (".txt", ".tsv") or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            head = fh.readline()
    except OSError:
        return False
    return BEGIN.lower() in [c.strip().lower() for c in head.rstrip("\r\n").split("\t")]


def _read(table: Path) -> str:
    raw = table.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # Raven on Windows writes its code page


def items_from_raven(table: Path, recordings: Recordings | None = None) -> list[ImportItem]:
    """The recordings a Raven selection table names, each with its selections as segments
    (and, from an Earmark table, its clip labels and each member's own annotation). A row
    that cannot be read is its recording's error, naming the row; the others go on.
    `recordings` finds what a row names: by default the audio files beside the table."""
    recordings = recordings or FilesBeside()
    try:
        reader = csv.DictReader(io.StringIO(_read(table), newline=""), delimiter="\t")
        # Any case ("begin time (s)", "species"): keyed by Raven's own spelling.
        canonical = {c.lower(): c for c in (BEGIN, END, LOW, HIGH, *LABEL_COLUMNS, *OTHERS)}
        canonical["score"] = SCORE
        rows = [
            {
                canonical.get((k or "").strip().lower(), (k or "").strip()): (v or "").strip()
                for k, v in r.items()
                if k is not None
            }
            for r in reader
        ]
        columns = [canonical.get(c.strip().lower(), c.strip()) for c in reader.fieldnames or []]
    except OSError as exc:
        raise DomainError(f"cannot read {table}: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise DomainError(f"{table.name}: the selection table is malformed: {exc}") from None
    missing = [c for c in (BEGIN, END) if c not in columns]
    if missing:
        raise DomainError(
            f"{table.name}: a Raven selection table needs {' and '.join(map(repr, missing))}"
        )
    label_column = next(
        (c for c in LABEL_COLUMNS if c in columns and any(r.get(c) for r in rows)), None
    )
    if label_column is None and (empty := [c for c in LABEL_COLUMNS if c in columns]):
        raise DomainError(
            f"{table.name}: its {empty[0]!r} column is empty in every row: no selection is "
            "labeled yet"
        )
    if label_column is None:
        raise DomainError(
            f"{table.name}: no column of labels: name it one of {', '.join(LABEL_COLUMNS)} "
            f"(found: {', '.join(columns)})"
        )
    views = {r.get("View", "") for r in rows}
    spectrogram_rows = any(v.lower().startswith("spectrogram") for v in views)
    # Keyed by recording: a path beside the table, or a clip (`Recordings.item`).
    items: OrderedDict[object, ImportItem] = OrderedDict()
    # Per recording and annotator: each box's channels, to tell a box on every channel
    # (Earmark writes one row per channel) from one on some.
    boxes: dict[tuple, OrderedDict[tuple, set[int]]] = {}
    rows_of: dict[tuple, int] = {}
    scores: dict[tuple, float] = {}  # a box's score, where the table gives one
    statuses: dict[tuple, str] = {}
    seen_selections: set[tuple] = set()
    channels: dict[object, int] = {}  # each recording's, from its header
    nyquists: dict[object, float] = {}
    for line, row in enumerate(rows, start=2):
        view = row.get("View", "")
        if spectrogram_rows and view and not view.lower().startswith("spectrogram"):
            continue  # the waveform's copy of a spectrogram's selection
        path, found = recordings.item(table, row)
        item = items.get(path)
        if item is None:
            item = items[path] = found
            channels[path], nyquists[path] = recordings.header(item)
        if item.error:
            continue
        # One selection listed again (another view's row); a selection across channels is
        # listed once per channel, each kept.
        selection = (path, row.get("Selection", ""), row.get("Channel", ""))
        if selection[1] and selection in seen_selections:
            continue
        seen_selections.add(selection)
        labels = [p.strip() for p in row.get(label_column, "").split(";") if p.strip()]
        if not labels:
            continue  # a selection not labeled yet: no annotation
        who = row.get("Annotator", "")
        try:
            start, end = _number(row, BEGIN, line), _number(row, END, line)
            if row.get(OFFSET):
                # A table over a sequence of files counts time from the first one: where
                # the selection begins in its own file is its offset.
                start, end = _number(row, OFFSET, line), _number(row, OFFSET, line) + end - start
            channel = _number(row, "Channel", line) if row.get("Channel") else 1
            if channel != int(channel):
                raise ValueError(f"row {line}: Channel {row['Channel']!r} is no whole number")
            channel = int(channel)
            if channel < 1 or channel > channels[path]:
                has = channels[path]
                raise ValueError(
                    f"row {line}: channel {channel}, and {item.name} has {has} "
                    f"channel{'s' if has != 1 else ''}"
                )
        except ValueError as exc:
            item.error = str(exc)
            continue
        score = None
        if row.get(SCORE):  # a detector's (BirdNET's Confidence): kept for suggestions
            try:
                score = _number(row, SCORE, line)
            except ValueError as exc:
                item.error = str(exc)
                continue
        statuses.setdefault((path, who), row.get("Status", "").lower())
        if row.get("Kind", "").lower() == "clip":
            target = _labels_of(item, who)
            target.extend(p for p in labels if p not in target)
            if score is not None:
                item.clip_labels_scored(labels, score)
            continue
        low = row.get(LOW, "").replace(",", ".")
        high = _below_nyquist(row.get(HIGH, "").replace(",", "."), nyquists[path])
        key = (start, end, low, high, tuple(labels))
        boxes.setdefault((path, who), OrderedDict()).setdefault(key, set()).add(channel)
        rows_of.setdefault((path, who, key), line)
        if score is not None:
            scores[(path, who, key)] = max(score, scores.get((path, who, key), score))
    for (path, who), found in boxes.items():
        item = items[path]
        if item.error:
            continue
        every = set(range(1, channels[path] + 1))
        for key, chans in found.items():
            start, end, low, high, labels = key
            band = {"low_freq": low, "high_freq": high} if low or high else {}
            on = [None] if chans == every else sorted(c - 1 for c in chans)
            for channel in on:
                _segments_of(item, who).append(
                    {
                        "start": start,
                        "end": end,
                        "labels": list(labels),
                        **band,
                        **({"channel": channel} if channel is not None else {}),
                        **(
                            {"score": scores[(path, who, key)]}
                            if (path, who, key) in scores
                            else {}
                        ),
                        "row": rows_of[(path, who, key)],
                    }
                )
    for (path, who), status in statuses.items():
        entry = _entry(items[path], who)
        if entry is not None:
            entry["status"] = status if status in KEPT_STATUSES else "submitted"
    return list(items.values())


OFFSET = "File Offset (s)"
SCORE = "Confidence"  # BirdNET's; "Score" is read as it
OTHERS = (
    SCORE,
    "Clip ID",  # an Earmark table's: tells apart clips of one name (label_imports)
    "View",
    "Channel",
    "Selection",
    "Begin File",
    "Begin Path",
    "Kind",
    "Annotator",
    "Status",
    OFFSET,
)


def _entry(item: ImportItem, who: str) -> dict | None:
    """The annotation of `who` (an Earmark table's annotator) on the item, made on first use;
    None for rows of nobody in particular (they go to the item's own labels)."""
    if not who:
        return None
    for entry in item.annotations:
        if entry.get("username") == who:
            return entry
    entry = {"username": who, "status": "submitted", "clip_labels": [], "segments": []}
    item.annotations.append(entry)
    return entry


def _labels_of(item: ImportItem, who: str) -> list:
    entry = _entry(item, who)
    return item.clip_labels if entry is None else entry["clip_labels"]


def _segments_of(item: ImportItem, who: str) -> list:
    entry = _entry(item, who)
    return item.segments if entry is None else entry["segments"]


def _number(row: dict, column: str, line: int) -> float:
    raw = row.get(column, "")
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise ValueError(f"row {line}: {column} {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"row {line}: {column} {raw!r} is not a number")
    return value


class Recordings(Protocol):
    """What finds the recording a table's row names, and reads its header."""

    def item(self, table: Path, row: dict) -> tuple[object, ImportItem]:
        """(a key, one per recording; a new item for it, or one whose error says why the
        recording was not found)."""

    def header(self, item: ImportItem) -> tuple[int, float]:
        """(channels, Nyquist frequency) of an item this made; (0, 0.0) for an error."""


def recording_named(row: dict) -> str:
    """The file name a row gives its recording (a Windows path or a POSIX one: its name);
    '' when it gives none."""
    named = row.get("Begin File", "") or row.get("Begin Path", "")
    return PureWindowsPath(named).name if named else ""


def recording_stem(table: Path) -> str | None:
    """The recording Raven's own name for a table names (`dawn.Table.1.selections.txt`:
    dawn), or None."""
    match = RAVEN_TABLE_NAME.match(table.stem)
    return match["stem"] if match else None


def no_recording_named(table: Path) -> str:
    return (
        f"{table.name} names no recording: give it a 'Begin File' column, or name it as Raven "
        "does (<recording>.Table.1.selections.txt)"
    )


class FilesBeside:
    """The audio files beside the table (a command-line import)."""

    def item(self, table: Path, row: dict) -> tuple[object, ImportItem]:
        path, error = _recording(table, row)
        return path, _item(path, error)

    def header(self, item: ImportItem) -> tuple[int, float]:
        return _header(item)


def _recording(table: Path, row: dict) -> tuple[Path, str]:
    """The recording a row is of, beside the table, and an error when it is not there."""
    if named := recording_named(row):
        path = table.parent / named
        return path, "" if path.is_file() else f"{path.name} not found beside {table.name}"
    if (stem := recording_stem(table)) is not None:
        for candidate in sorted(table.parent.glob(f"{glob.escape(stem)}.*")):
            if candidate.suffix.lower() in AUDIO_EXTENSIONS:
                return candidate, ""
        return table.parent / stem, (
            f"no recording named {stem}.<wav, flac, mp3...> beside {table.name}"
        )
    return table.parent / table.stem, f"{no_recording_named(table)} beside the recording"


def _item(path: Path, error: str) -> ImportItem:
    if error:
        return ImportItem(name=path.name, error=error)
    return ImportItem(name=path.name, path=path)


def _header(item: ImportItem) -> tuple[int, float]:
    """The recording's channels and Nyquist frequency from its header (a box on channel 1 of
    a stereo file is on one channel, not on every channel the table happens to list); a file
    that is no audio is the item's error."""
    if item.error:
        return 0, 0.0
    try:
        info = probe(item.path)
    except AudioError as exc:
        item.error = str(exc)
        return 0, 0.0
    return info.channels, info.sample_rate / 2


def _below_nyquist(high: str, nyquist: float) -> str:
    """A box's top at most the recording's Nyquist frequency: BirdNET writes 15,000 Hz
    whatever the file's rate (a 16 kHz recording's tables were refused whole)."""
    try:
        value = float(high)
    except ValueError:
        return high  # said by the segment's own check
    return str(nyquist) if nyquist and value > nyquist else high
