"""python manage.py export PROJECT --format earmark|label_studio|csv|manifest|raven [--out FILE]
[--status S ...] [--label PATH ...] [--annotator USER ...] [--since DATE] [--until DATE]
[--agreement agree|disagree] [--group-by FIELD] [--splits 0.8,0.1,0.1] [--seed N]
[--keep-splits EXPORT_ID]

The same export as the web's export jobs, run here and now: the file goes to --out (written
beside it and renamed when complete, so a failed export leaves no half file) or to stdout;
a progress line and a summary go to stderr."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.exports import FORMATS, export_write
from labelapp.management import file_to_write, project_or_error


class _Stream:
    """stdout as a plain text stream: the export's bytes go out as written, no added newlines."""

    def __init__(self, wrapper):
        self._wrapper = wrapper

    def write(self, text: str) -> int:
        self._wrapper.write(text, ending="")
        return len(text)


class Command(BaseCommand):
    help = "Export a project's labels: Earmark JSON, Label Studio JSON, CSV or a training manifest."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--out", help="file to write (default: stdout)")
        filters = parser.add_argument_group("filters (on annotations)")
        filters.add_argument("--status", action="append", help="annotation status (repeatable)")
        filters.add_argument(
            "--label",
            action="append",
            help="label path, children included (csv: its rows only; others: whole annotations)",
        )
        filters.add_argument("--annotator", action="append", help="username (repeatable)")
        filters.add_argument("--since", help="changed on or after (YYYY-MM-DD or ISO datetime)")
        filters.add_argument("--until", help="changed on or before (YYYY-MM-DD or ISO datetime)")
        filters.add_argument("--agreement", choices=["agree", "disagree"])
        options = parser.add_argument_group("format options")
        options.add_argument("--group-by", help="manifest: metadata field grouping clips")
        options.add_argument("--splits", help="manifest: train,validation,test fractions")
        options.add_argument("--seed", type=int, help="manifest: seed of the split")
        options.add_argument("--manifest-format", choices=["csv", "jsonl"])
        options.add_argument(
            "--keep-splits",
            type=int,
            metavar="EXPORT_ID",
            help="manifest: clips of this earlier manifest export keep their split",
        )
        options.add_argument("--base-url", help="label_studio: prefix of the audio URLs")
        options.add_argument("--clip-labels", choices=["taxonomy", "choices"])
        options.add_argument("--predictions", choices=["all", "active", "none"])
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def handle(self, *args, **opts):
        project = project_or_error(opts["project"])
        filters = {
            key: opts[key]
            for key in ("status", "label", "annotator", "since", "until", "agreement")
            if opts.get(key)
        }
        options = {
            key: opts[key]
            for key in (
                "group_by",
                "splits",
                "seed",
                "manifest_format",
                "keep_splits",
                "base_url",
                "clip_labels",
                "predictions",
            )
            if opts.get(key) is not None
        }
        started = time.monotonic()
        live = self.stderr.isatty()
        last = {"decile": -1}

        def progress(done: int, total: int) -> None:
            if opts["quiet"]:
                return
            fraction = done / total if total else 1.0
            decile = int(fraction * 10)
            # On a terminal one line is redrawn in place; in a log, a line every 10%.
            if not live and decile == last["decile"]:
                return
            last["decile"] = decile
            self.stderr.write(
                f"{chr(13) if live else ''}exporting {done}/{total} ({100 * fraction:.0f}%)",
                ending="" if live and done < total else "\n",
            )
            self.stderr.flush()

        try:
            if opts["out"]:
                summary = self._to_file(
                    Path(opts["out"]), project, opts, filters, options, progress
                )
            else:
                summary = export_write(
                    _Stream(self.stdout),
                    project=project,
                    format=opts["format"],
                    filters=filters,
                    options=options,
                    on_progress=progress,
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        where = opts["out"] or "stdout"
        self.stderr.write(
            f"{opts['format']} export of {project.name!r} to {where} in "
            f"{time.monotonic() - started:.1f} s: {json.dumps(summary)}"
        )

    def _to_file(self, path: Path, project, opts, filters, options, progress) -> dict:
        directory = file_to_write(str(path)).resolve().parent
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            with open(fd, "w", encoding="utf-8", newline="") as out:
                summary = export_write(
                    out,
                    project=project,
                    format=opts["format"],
                    filters=filters,
                    options=options,
                    on_progress=progress,
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return summary
