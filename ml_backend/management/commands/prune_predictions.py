"""Delete predictions of older model versions: each clip keeps those of its N newest."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from labelapp.management import project_or_error
from ml_backend.services import predictions_prune


class Command(BaseCommand):
    help = (
        "Delete a project's predictions from older model versions: each clip keeps those of "
        "its --keep newest versions (the active version's always). Every new version scores "
        "the unlabeled clips again, so the rows grow with each training."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument(
            "--keep",
            type=int,
            required=True,
            help="versions whose predictions each clip keeps, 1 or more (1: the active one's)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def handle(self, *args, project, keep, dry_run=False, quiet=False, **opts):
        if keep < 1:
            raise CommandError(
                f"--keep must be 1 or more (got {keep}): a clip keeps at least the active "
                "version's predictions"
            )
        proj = project_or_error(project)
        live = self.stderr.isatty()
        started = time.monotonic()

        def progress(done, total):
            if quiet:
                return
            last = done == total
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stderr.write(
                f"{chr(13) if live else ''}pruning {done}/{total} clips "
                f"({100 * done / total:.0f}%) · {rate:.0f} clips/s",
                ending="\n" if (last or not live) else "",
            )
            self.stderr.flush()

        counts = predictions_prune(
            project_id=proj.pk, keep=keep, dry_run=dry_run, on_progress=progress
        )
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {counts['deleted']} predictions of {proj.name!r}; {counts['kept']} kept "
            f"over {counts['clips']} clips (each clip's {keep} newest version"
            f"{'s' if keep != 1 else ''})"
        )
