"""What a CLI path means: a file, a folder, a CSV manifest, a Label Studio task list or a
Raven selection table (labelapp.services.raven_tables).

Each reader turns its source into ImportItems; problems with one entry become that entry's
error, so the rest of the batch goes on. A manifest that cannot be read at all raises
DomainError with the reason.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlparse

from labelapp.errors import DomainError
from labelapp.services.annotations import LEAD_TIME_MAX_S
from labelapp.services.imports import AUDIO_EXTENSIONS, ImportItem
from labelapp.services.raven_tables import is_raven_table, items_from_raven

if TYPE_CHECKING:
    from labelapp.services.label_imports import ClipsByName

LS_LOCAL_FILES_PREFIX = "/data/local-files/"
LS_UPLOAD_PREFIX = "/data/upload/"


def items_from_paths(
    paths: list[str | Path],
    skipped: Counter | None = None,
    is_label: Callable[[str], bool] | None = None,
) -> Iterator[ImportItem]:
    """`skipped` counts, by extension, the files of folders passed over as not audio;
    `is_label`, for Label Studio files, leaves out the controls that name no label of the
    project (`ls_label_results`)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from items_from_folder(path, skipped)
        elif path.suffix.lower() == ".csv":
            yield from items_from_csv(path)
        elif path.suffix.lower() == ".json":
            yield from items_from_label_studio(path, is_label)
        elif is_raven_table(path):
            yield from items_from_raven(path)
        else:
            yield _item_for_file(path)


def _item_for_file(path: Path, **extra) -> ImportItem:
    name = os.fsdecode(path.name) if isinstance(path.name, bytes) else path.name
    if not path.exists():
        return ImportItem(name=name or str(path), error=f"file not found: {path}", **extra)
    return ImportItem(name=name, path=path, **extra)


def items_from_folder(folder: Path, skipped: Counter | None = None) -> Iterator[ImportItem]:
    """Audio files below `folder`, recursively, in a stable order; other files (hidden ones
    aside) are counted in `skipped` by extension."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for fname in sorted(files):
            if fname.startswith("."):
                continue
            path = Path(root) / fname
            if path.suffix.lower() in AUDIO_EXTENSIONS:
                rel = os.path.relpath(path, folder)
                yield _item_for_file(path, metadata={"source_path": rel})
            elif skipped is not None:
                skipped[path.suffix.lower() or "(no extension)"] += 1


def _resolve(base: Path, ref: str) -> Path:
    path = Path(ref)
    return path if path.is_absolute() else (base / path)


def _parse_seconds(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number of seconds") from None
    if number != number or number < 0:
        raise ValueError(f"{what} {value!r} must be a non-negative number of seconds")
    if number == float("inf"):  # "1e400" read as infinity: "must be within the clip" said less
        raise ValueError(f"{what} {value!r} is not a finite number of seconds")
    return number


def _parse_score(value: str, line: int) -> float:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise ValueError(f"row {line}: score {value!r} is not a number") from None
    if not 0 <= number <= 1:  # NaN too
        raise ValueError(f"row {line}: score {value!r} is not from 0 to 1")
    return number


def _formula_unquoted(cell: str) -> str:
    """A cell as it was before an export kept a spreadsheet from running it ("'=eq" was
    "=eq": `exports.common.spreadsheet_safe`); read back as written, the label "'=eq" was
    made."""
    from labelapp.exports.common import FORMULA_START

    if len(cell) > 1 and cell[0] == "'" and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


def items_from_csv(manifest: Path, clips: ClipsByName | None = None) -> list[ImportItem]:
    """CSV with `audio` and optional `labels` (`;`-separated), `start`, `end`, `low_freq` and
    `high_freq` (a segment's band in Hz), `score` (a model's, from 0 to 1: read when the file
    is imported as suggestions) and `original_name` (the clip's name, else the file's); other
    columns become clip metadata
    (an Earmark export's `clip_id` is dropped). Several rows may name one file: their labels
    and segments add up. A cell an export quoted against spreadsheet formulas ("'=eq") is
    read without its quote. With `clips` (a labels file for clips already in the project) the
    `original_name` or the audio's file name names the clip, and no audio is read."""
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [f.strip() for f in reader.fieldnames or []]
            if "audio" not in columns and {"clip_id", "kind", "label"} <= set(columns):
                raise DomainError(
                    f"{manifest.name}: this is Earmark's CSV export (a row per label), which "
                    "is not read back: import the training manifest or the Label Studio JSON "
                    "export instead, with the audio beside it"
                )
            if "audio" not in columns:
                raise DomainError(
                    f"{manifest.name}: a CSV manifest needs an 'audio' column "
                    f"(found: {', '.join(reader.fieldnames or []) or 'nothing'})"
                )
            rows = list(reader)
    except UnicodeDecodeError:
        raise DomainError(f"{manifest.name}: the CSV manifest is not UTF-8 text") from None
    except OSError as exc:  # missing, a folder, unreadable
        raise DomainError(f"cannot read the manifest {manifest}: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise DomainError(f"{manifest.name}: the CSV manifest is malformed: {exc}") from None
    items: OrderedDict[object, ImportItem] = OrderedDict()  # by path, or by clip
    base = manifest.parent
    fell_back: dict[Path, str] = {}  # a file found by original name: the audio cell it stands for
    for line, row in enumerate(rows, start=2):
        row = {
            (k or "").strip(): _formula_unquoted((v or "").strip())
            for k, v in row.items()
            if k is not None
        }
        broken = next((k for k, v in row.items() if "\n" in v or "\r" in v), None)
        if broken is not None:
            # A quote opened and never closed swallows the rows after it into one cell: the
            # labels read "zero\n1_george_5.wav,one", and the rows vanished.
            key = Path(f"<row {line}>")
            items[key] = ImportItem(
                name=f"{manifest.name} row {line}",
                error=f'row {line}: the {broken!r} cell holds a line break: a quote (") opened '
                "and not closed? The rows after it were read into it",
            )
            continue
        ref = row.pop("audio", "")
        # An Earmark export's columns: its clip id means nothing here; its original name is
        # the clip's name (the file's stored name is a hash).
        clip_id = row.pop("clip_id", "")
        original_name = row.pop("original_name", "")
        if not ref:
            key = Path(f"<row {line}>")
            items[key] = ImportItem(
                name=f"{manifest.name} row {line}", error=f"row {line}: the 'audio' column is empty"
            )
            continue
        if clips is not None:
            key, found = clips.find(original_name, ref, clip_id=clip_id)
            item = items.setdefault(key, found)
        else:
            item = _csv_file_item(items, base, ref, original_name, fell_back)
        labels = [x.strip() for x in row.pop("labels", "").split(";") if x.strip()]
        start_raw, end_raw = row.pop("start", ""), row.pop("end", "")
        band = {"low_freq": row.pop("low_freq", ""), "high_freq": row.pop("high_freq", "")}
        score_raw = row.pop("score", "")  # a model's, for suggestions (label_imports)
        item.metadata.update({k: v for k, v in row.items() if k and v})
        try:
            score = _parse_score(score_raw, line) if score_raw else None
            if start_raw or end_raw:
                if not (start_raw and end_raw):
                    raise ValueError(f"row {line}: a segment needs both start and end")
                start = _parse_seconds(start_raw, f"row {line}: start")
                end = _parse_seconds(end_raw, f"row {line}: end")
                if not labels:
                    raise ValueError(f"row {line}: a segment ({start}-{end} s) needs labels")
                # The band is checked with the segment, against the clip's sample rate.
                band = {k: v for k, v in band.items() if v}
                # `row`: an error names the manifest's row, not the file's nth segment
                item.segments.append(
                    {"start": start, "end": end, "labels": labels, **band, "row": line}
                    | ({"score": score} if score is not None else {})
                )
            else:
                if any(band.values()):
                    raise ValueError(
                        f"row {line}: low_freq and high_freq bound a segment: give its start "
                        "and end too"
                    )
                item.clip_labels.extend(lb for lb in labels if lb not in item.clip_labels)
                if score is not None:
                    item.clip_labels_scored(labels, score)
        except ValueError as exc:
            item.error = item.error or str(exc)
    return list(items.values())


def _csv_file_item(
    items: OrderedDict, base: Path, ref: str, original_name: str, fell_back: dict[Path, str]
) -> ImportItem:
    """The item of the audio file a manifest's row names (made on its first row)."""
    path = _resolve(base, ref)
    named = Path(original_name).name if Path(original_name).name not in (".", "..") else ""
    if not path.exists() and named and (base / named).exists():
        # An Earmark manifest's audio is the server's stored name: the file beside the
        # manifest under the clip's original name is the one (as a task list's is).
        path = base / named
        first = fell_back.setdefault(path, ref)
        if first != ref:
            # Two recordings of one name ("rec.wav" from two recorders): both rows' labels
            # went onto the one file found.
            items.setdefault(path, _item_for_file(path)).error = (
                f"rows {first!r} and {ref!r} are two recordings both named {named!r}, and "
                f"one {named} lies beside the manifest: put each under its own name and "
                "write those names in the 'audio' column"
            )
    item = items.get(path)
    if item is None:
        item = items[path] = _item_for_file(path)
        if item.error and named:
            item.error += f" (nor {named} beside the manifest)"
        # Its last part ("a/b.wav" is b.wav); none ("/", "..") leaves the file's name.
        if named and not item.error:
            item.name = named
    return item


def _ls_audio_path(
    ref: str, base: Path, original_name: str | None = None, sha256: str | None = None
) -> Path:
    """Where a task's audio is here. When `ref` does not lead to a file (an Earmark export's
    `/api/clips/<id>/audio`, a URL) but the task names its original file, a file of that
    name beside the task list is taken: export, copy the audio beside, import. A name is not
    a clip: when the task says its audio's `sha256` (an Earmark export's meta does), the file
    found by name must have it (two clips named alike, from two folders, took one file, and
    one clip's labels landed on the other's audio)."""
    try:
        path = _ls_audio_ref(ref, base)
    except ValueError:
        path = None
        if not original_name:
            raise
    if (path is None or not path.exists()) and original_name:
        beside = base / Path(str(original_name)).name
        if beside.is_file():
            if isinstance(sha256, str) and len(sha256) == 64:
                from labelapp.services.imports import _hash_and_size

                found, _ = _hash_and_size(beside)
                if found != sha256.lower():
                    raise ValueError(
                        f"{beside.name} beside the task file is not this task's audio (its "
                        "content differs from the task's meta.sha256: another clip has the "
                        "same name); put this clip's audio under a name of its own and give "
                        "that name as the task's data.audio"
                    )
            return beside
    if path is None:
        raise ValueError(f"remote audio {ref!r} is not fetched; download it and import the file")
    if not path.exists() and original_name and urlparse(ref).path.startswith("/api/clips/"):
        # An Earmark export names its audio by the server's URL: say where the file goes.
        raise ValueError(
            f"audio {ref!r} is an Earmark server's URL: put {Path(str(original_name)).name!r} "
            f"beside the task file (in {base}) and import again"
        )
    return path


def _ls_audio_ref(ref: str, base: Path) -> Path:
    parsed = urlparse(ref)
    if parsed.scheme in ("http", "https", "s3", "gs"):
        raise ValueError(f"remote audio {ref!r} is not fetched; download it and import the file")
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if ref.startswith(LS_LOCAL_FILES_PREFIX):
        rel = parse_qs(parsed.query).get("d", [""])[0]
        return _resolve(base, unquote(rel))
    if ref.startswith(LS_UPLOAD_PREFIX):
        # Label Studio's own uploads: look for the file next to the task list.
        return base / Path(unquote(parsed.path)).name
    return _resolve(base, unquote(ref))


def result_names(clip_labels: list[str], segments: list[dict]) -> list[str]:
    """Every name `ls_results`' answer gives: the clip's labels, then each segment's."""
    return clip_labels + [name for seg in segments for name in seg["labels"]]


class NoKnownLabel(ValueError):
    """Label Studio results whose every control names no label of the project."""


def ls_label_results(
    results, is_label: Callable[[str], bool] | None = None
) -> tuple[list[str], list[dict]]:
    """`ls_results` over the controls that name the project's labels (`is_label`: whether a
    name or path is one): a control none of whose values is a label is another kind of
    question (a "quality" Choices, a rating) and is left out; when every control naming
    something is left out, a ValueError names what they named (read as no labels at all, a
    misspelt label cleared an annotation). Without `is_label`, every control counts."""
    if is_label is None or results is None:
        return ls_results(results)
    if not isinstance(results, list):
        raise ValueError("an annotation's 'result' must be a list")
    by_control: dict[str, list] = {}
    for item in results:
        if not isinstance(item, dict):
            raise ValueError("a result item is not an object")
        by_control.setdefault(str(item.get("from_name", "")), []).append(item)
    clip_labels: list[str] = []
    segments: list[dict] = []
    unknown: list[str] = []
    for items in by_control.values():
        labels, segs = ls_results(items)
        names = result_names(labels, segs)
        if not any(is_label(name) for name in names):
            unknown.extend(names)
            continue
        clip_labels.extend(labels)
        segments.extend(segs)
    if unknown and not clip_labels and not segments:
        named = ", ".join(repr(n) for n in dict.fromkeys(unknown))
        raise NoKnownLabel(
            f"this annotation names no label of the project: {named} (add the labels in "
            "Earmark, or make Label Studio's values its label names or paths)"
        )
    return clip_labels, segments


def ls_results(results: list) -> tuple[list[str], list[dict]]:
    """Label Studio result items to (clip label paths, segments). A value that is no object,
    or names that are no list of names, is a ValueError that says which (a string `value` was
    a 500; `"labels": "Bird"` read as the labels B, i, r, d; a taxonomy entry "str" as s/t/r).
    One name where a list is expected is taken as that one name."""
    clip_labels: list[str] = []
    segments: list[dict] = []
    for res in results or []:
        if not isinstance(res, dict):
            raise ValueError("a result item is not an object")
        kind, value = res.get("type"), res.get("value")
        if kind not in ("labels", "choices", "taxonomy"):
            continue
        if not isinstance(value, dict):  # null too: it read as labels cleared
            raise ValueError(f"a {kind!r} result's 'value' is not an object")
        if kind == "labels":
            seg = {
                "start": value.get("start"),
                "end": value.get("end"),
                "labels": _ls_names(value.get("labels"), "labels"),
            }
            if value.get("channel") not in (None, ""):
                seg["channel"] = value.get("channel")
            if res.get("score") is not None:
                seg["score"] = _ls_score(res["score"], "a region's score")
            segments.append(seg)
        elif kind == "choices":
            clip_labels.extend(_ls_names(value.get("choices"), "choices"))
        else:
            for path in _ls_list(value.get("taxonomy"), "taxonomy"):
                clip_labels.append("/".join(_ls_names(path, "taxonomy")))
    return clip_labels, segments


def _ls_list(value, key: str) -> list:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValueError(f"a result's {key!r} is not a list")
    return value


def _ls_names(value, key: str) -> list[str]:
    """Names given as a list of strings (or numbers: a choice "7"), or as one string."""
    names = [value] if isinstance(value, str) else _ls_list(value, key)
    for name in names:
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise ValueError(f"a result's {key!r} holds {type(name).__name__}, not a name")
    return [str(name) for name in names]


ANNOTATION_STATUSES = ("draft", "submitted", "accepted", "rejected", "skipped")


def _ls_annotator(ann: dict) -> dict:
    """Who made a Label Studio annotation, when the task says in a way Earmark can use:
    the `earmark` object of an Earmark export (username and status), or Label Studio's
    `completed_by` object with an email. {} when it does not."""
    cancelled = bool(ann.get("was_cancelled"))
    status = "skipped" if cancelled else "submitted"
    extra = ann.get("earmark") if isinstance(ann.get("earmark"), dict) else {}
    if extra.get("status") in ANNOTATION_STATUSES:
        status = extra["status"]
    # An Earmark export's review of it: who decided, and why (a rejection's reason).
    review = {
        key: extra[key]
        for key in ("reviewed_by", "review_comment", "reviewed_at")
        if isinstance(extra.get(key), str) and extra[key]
    }
    if isinstance(extra.get("annotator"), str) and extra["annotator"]:
        return {"username": extra["annotator"], "status": status, "review": review}
    by = ann.get("completed_by")
    if isinstance(by, dict) and isinstance(by.get("email"), str) and by["email"]:
        return {"email": by["email"], "status": status, "review": review}
    return {}


def ls_lead_time(value) -> float:
    """Seconds spent, as Label Studio gives them: a number from 0 to a day, else 0 (1e999 read
    as infinity and was a 500 when its revision was written)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return 0.0
    return float(min(value, LEAD_TIME_MAX_S))


def _ls_score(value, what: str = "a prediction's score") -> float | None:
    """A prediction's (or a region's) score: a number from 0 to 1, or none given ("high"
    was stored as 1.0, the score a prediction without one gets)."""
    import math

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number from 0 to 1, not {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{what} must be from 0 to 1, not {value!r}")
    return float(value)


def _ls_objects(task: dict, key: str) -> list[dict]:
    """A task's annotations or predictions: a list of objects, else a ValueError that rejects
    the task saying so (`"annotations": {"result": []}` was skipped without a word)."""
    items = task.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"the task's {key!r} must be a list of objects")
    return items


def items_from_label_studio(
    task_file: Path, is_label: Callable[[str], bool] | None = None
) -> list[ImportItem]:
    """A Label Studio task export: `[{"data": {"audio": ...}, "annotations": [...],
    "predictions": [...]}]`."""
    try:
        tasks = json.loads(task_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DomainError(
            f"{task_file.name}: not a JSON file of Label Studio tasks: {exc}"
        ) from None
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if isinstance(tasks, dict) and tasks.get("format") == "earmark" and "clips" in tasks:
        raise DomainError(
            f"{task_file.name} is an Earmark JSON export: import_audio reads the project's "
            "Label Studio export (export PROJECT --format label_studio, with the audio "
            "beside it) for its clips and annotations; import_ontology reads this file's "
            "label tree"
        )
    if isinstance(tasks, dict) and "labels" in tasks and "clips" not in tasks:
        raise DomainError(
            f"{task_file.name} is a label tree (Earmark JSON): import_ontology reads it"
        )
    if not isinstance(tasks, list):
        raise DomainError(f"{task_file.name}: expected a list of Label Studio tasks")
    items = []
    for i, task in enumerate(tasks):
        label = f"{task_file.name} task {i}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            items.append(ImportItem(name=label, error=f"task {i} has no 'data' object"))
            continue
        data = dict(task["data"])
        meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
        ref = data.pop("audio", None)
        # An Earmark export names the clip it came from; that id means nothing here.
        data.pop("earmark_clip_id", None)
        original_name = data.pop("original_name", None) or meta.get("original_name")
        if not isinstance(ref, str) or not ref:
            items.append(ImportItem(name=label, error=f"task {i} has no data.audio"))
            continue
        try:
            path = _ls_audio_path(ref, task_file.parent, original_name, meta.get("sha256"))
            item = _item_for_file(path)
            for ann in _ls_objects(task, "annotations"):
                labels, segments = ls_label_results(ann.get("result"), is_label)
                who = _ls_annotator(ann)
                if not who and ann.get("was_cancelled"):
                    continue
                # Nobody Earmark can name: merged into the import's own annotation, as the
                # import decides (in a single-label project, by their majority).
                item.annotations.append(
                    {
                        **who,
                        "clip_labels": labels,
                        "segments": segments,
                        "lead_time": ls_lead_time(ann.get("lead_time")),  # it came back 0
                    }
                )
            for pred in _ls_objects(task, "predictions"):
                labels, segments = ls_label_results(pred.get("result"), is_label)
                item.predictions.append(
                    {
                        "model_version": str(pred.get("model_version") or "label-studio"),
                        "score": _ls_score(pred.get("score")),
                        "clip_labels": labels,
                        "segments": segments,
                    }
                )
        except ValueError as exc:
            # An Earmark export's audio is "/api/clips/301/audio": five rejections all read
            # "audio". The clip's own name says which.
            named = Path(str(original_name or "")).name or Path(urlparse(ref).path).name
            items.append(ImportItem(name=named or label, error=str(exc)))
            continue
        if isinstance(meta.get("metadata"), dict):
            item.metadata.update(meta["metadata"])
        item.metadata.update({k: v for k, v in data.items() if isinstance(v, str | int | float)})
        if "id" in task:
            item.metadata["label_studio_id"] = task["id"]
        items.append(item)
    return items
