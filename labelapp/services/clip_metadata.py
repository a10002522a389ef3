"""Clip metadata read from the clips' file names: "{digit}_{speaker}_{take}" on
"7_jackson_12.wav" gives {"digit": "7", "speaker": "jackson", "take": "12"}.

Browser uploads bring no metadata (a CSV manifest's columns do), so a manifest export could
not keep each speaker in one split ("the clips have no metadata"): a lead names the fields once
and every clip the project has gets them (again after more uploads)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from django.db import transaction

from labelapp.errors import DomainError
from labelapp.models import Clip, Project

PATTERN_MAX = 200
FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,49})\}")
BATCH = 500
EXAMPLES = 5
# An extension at the end of a pattern: the names are read without theirs.
EXTENSION = re.compile(
    r"\.(wav|wave|flac|mp3|ogg|oga|opus|aif|aiff|aifc|caf|au|snd|w64|rf64)$", re.IGNORECASE
)


def name_pattern_compile(pattern: str) -> tuple[re.Pattern, list[str]]:
    """The pattern as an anchored regex over a file name without its extension, and its
    fields. `{name}` takes one or more characters up to the first character of the text after
    it (the last field: the rest of the name); everything else is literal. (Fields of "as few
    as the text after allows" backtracked: five fields against a 200-character name that did
    not match took 25 s.) A trailing extension is left out, as the names' are. DomainError
    for a pattern without a field, with a field twice, or two fields with nothing between them
    (where one ends would be a guess)."""
    pattern = EXTENSION.sub("", unicodedata.normalize("NFC", (pattern or "").strip()))
    if not pattern:
        raise DomainError("give a pattern such as {digit}_{speaker}_{take}", code="invalid")
    if len(pattern) > PATTERN_MAX:
        raise DomainError(f"the pattern is longer than {PATTERN_MAX} characters", code="invalid")
    if "{}" in pattern or re.search(r"\{(?![A-Za-z_][A-Za-z0-9_]{0,49}\})", pattern):
        raise DomainError(
            "a field is a name in braces, letters, digits and _ ({speaker}, {take_2})",
            code="invalid",
        )
    fields = FIELD.findall(pattern)
    if not fields:
        raise DomainError(
            "the pattern names no field: put one in braces, as {speaker}", code="invalid"
        )
    if len(set(fields)) != len(fields):
        raise DomainError("a field is named twice in the pattern", code="invalid")
    parts = FIELD.split(pattern)  # literal, field, literal, field, ..., literal
    regex = ""
    for i, part in enumerate(parts):
        if i % 2:
            after = parts[i + 1]
            body = f"[^{re.escape(after[0])}]+" if after else ".+"
            regex += f"(?P<{part}>{body})"
        else:
            if 0 < i < len(parts) - 1 and part == "":
                raise DomainError(
                    "two fields with nothing between them: put a separator between them "
                    "(as the file names have one)",
                    code="invalid",
                )
            regex += re.escape(part)
    return re.compile(f"^{regex}$"), fields


def metadata_from_name(compiled: re.Pattern, name: str) -> dict[str, str] | None:
    """The fields of file name `name` (its extension and folders left out), or None."""
    stem = PurePosixPath(unicodedata.normalize("NFC", name).replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    m = compiled.match(stem)
    return dict(m.groupdict()) if m else None


@dataclass
class MetadataReport:
    fields: list[str]
    matched: int = 0
    unmatched: int = 0
    changed: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    matched_examples: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def clips_metadata_from_names(
    *, project: Project, pattern: str, dry_run: bool = False
) -> MetadataReport:
    """Set the pattern's fields in the metadata of every clip of `project` whose name matches
    (other fields are kept; a field already there is overwritten). `dry_run` reports what it
    would do. The clips that do not match are counted, with a few of their names."""
    compiled, fields = name_pattern_compile(pattern)
    report = MetadataReport(fields=fields)
    last = 0
    while True:
        with transaction.atomic():
            rows = list(
                Clip.objects.select_for_update()
                .filter(project=project, pk__gt=last)
                .order_by("pk")
                .only("pk", "original_name", "metadata")[:BATCH]
            )
            if not rows:
                break
            last = rows[-1].pk
            changed = []
            for clip in rows:
                found = metadata_from_name(compiled, clip.original_name)
                if found is None:
                    report.unmatched += 1
                    if len(report.unmatched_examples) < EXAMPLES:
                        report.unmatched_examples.append(clip.original_name)
                    continue
                report.matched += 1
                if len(report.matched_examples) < EXAMPLES:
                    report.matched_examples.append({"file": clip.original_name, "fields": found})
                now = {**(clip.metadata if isinstance(clip.metadata, dict) else {}), **found}
                if now != clip.metadata:
                    clip.metadata = now
                    changed.append(clip)
            report.changed += len(changed)
            if changed and not dry_run:
                Clip.objects.bulk_update(changed, ["metadata"])
    return report
