"""python manage.py import_labels PROJECT FILE: labels for clips already in the project, from a
CSV manifest or a Raven selection table naming them by file name (as the project page's
"Labels for clips already here" does, run here instead of by the worker). Exit 0 when every
recording the file names was labeled; 1, with one line per recording that was not, otherwise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.management.commands._progress import job_progress
from labelapp.services.label_imports import (
    MAX_LABELS_FILE_BYTES,
    labels_import_run,
    labels_import_start,
)
from labelapp.services.projects import project_resolve


class Command(BaseCommand):
    help = (
        "Add labels to clips already in a project from a CSV manifest or a Raven selection "
        "table that names them by file name (no audio is read)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("file", help="labels.csv or a Raven selection table (.txt)")
        parser.add_argument(
            "--create-labels",
            action="store_true",
            help="add the labels the file names that the label tree lacks (else none is "
            "imported and they are named)",
        )
        parser.add_argument(
            "--suggestions-from",
            metavar="SOURCE",
            default="",
            help="the file holds a model's detections (BirdNET's...), not people's labels: "
            "the clips get them as suggestions from SOURCE (e.g. birdnet-2.4), with their "
            "scores",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def handle(
        self,
        *args,
        project,
        file,
        create_labels=False,
        suggestions_from="",
        quiet=False,
        **options,
    ):
        path = Path(file)
        try:
            if not path.is_file():
                raise DomainError(f"no file {file}")
            with open(path, "rb") as fh:
                data = fh.read(MAX_LABELS_FILE_BYTES + 1)
            proj = project_resolve(project)
            job = labels_import_start(
                project=proj,
                user=None,
                name=path.name,
                data=data,
                create_labels=create_labels,
                suggestions_from=suggestions_from,
                to_worker=False,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        started = time.monotonic()
        done = "given suggestions" if suggestions_from else "labeled"
        write = job_progress(self, quiet=quiet)

        def progress(job):
            write(
                job,
                f"labeling {job.processed}/{job.total} ({100 * job.progress:.0f}%) "
                f"{job.imported} {done}, {job.rejected} not",
            )

        job = labels_import_run(job.pk, on_progress=progress)
        for entry in job.report:
            if entry["status"] == "rejected":
                self.stdout.write(f"not labeled: {entry['name']}: {entry['error']}")
            elif entry.get("error"):
                self.stdout.write(f"{entry['status']}: {entry['name']}: {entry['error']}")
        self.stdout.write(
            f"import job {job.pk} into {proj.name!r}: {job.imported} clip(s) {done}, "
            f"{job.rejected} recording(s) not, in {time.monotonic() - started:.1f} s"
        )
        if job.error:
            raise CommandError(job.error)
        if job.rejected:
            sys.exit(1)
