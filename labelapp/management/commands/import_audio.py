"""python manage.py import_audio PROJECT PATH... (files, folders, CSV manifests, Label Studio
task lists, Raven selection tables). Exit 0 when every file was imported or was a duplicate;
1, with one line per rejected file, otherwise."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.management.commands._progress import job_progress
from labelapp.models import ImportJob
from labelapp.services.imports import (
    INTERRUPTED,
    import_job_create,
    import_job_finish,
    import_run,
)
from labelapp.services.manifests import items_from_paths
from labelapp.services.projects import project_resolve
from ontology.models import Label


class Command(BaseCommand):
    help = (
        "Import audio into a project: files, folders (recursive), CSV manifests, Label Studio "
        "JSON, Raven selection tables (.txt, the recordings beside them)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument(
            "paths",
            nargs="+",
            help="file, folder, manifest.csv, tasks.json or a Raven selections .txt",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress line")
        labels = parser.add_mutually_exclusive_group()
        labels.add_argument(
            "--create-labels",
            dest="create_labels",
            action="store_const",
            const=True,
            help="add labels a manifest names that the project lacks (default: only into a "
            "project without labels; otherwise such a file is rejected, naming the label)",
        )
        labels.add_argument(
            "--no-create-labels",
            dest="create_labels",
            action="store_const",
            const=False,
            help="never add labels: a file naming one the project lacks is rejected",
        )

    def handle(self, *args, project, paths, quiet=False, create_labels=None, **options):
        skipped: Counter = Counter()
        if any(not str(path).strip() for path in paths):
            # An empty argument (a shell variable unset) read as ".": the whole working
            # directory was imported, the server's own media folder with it.
            raise CommandError("an empty path was given: name the files or folders to import")
        try:
            proj = project_resolve(project)
            items = list(items_from_paths(paths, skipped, _label_filter(proj, create_labels)))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        passed_over = ""
        if skipped:
            kinds = ", ".join(f"{ext} ×{n}" for ext, n in sorted(skipped.items()))
            passed_over = (
                f"{sum(skipped.values())} file(s) passed over, not audio Earmark reads: {kinds}"
            )
            if skipped.keys() & {".csv", ".json", ".txt"}:  # read when named by their paths
                passed_over += (
                    " (a CSV manifest, a Label Studio task list or a Raven selection table in "
                    "a folder is not read: give it by its path)"
                )
        if not items:
            raise CommandError(
                "no audio files found in "
                + ", ".join(paths)
                + (f"; {passed_over}" if passed_over else "")
            )
        if passed_over:
            self.stdout.write(passed_over)
        # SIGTERM (a stopped container, `kill`) ends it like Ctrl-C: the job is marked failed
        # with how far it got, instead of showing as running until the sweep. Signal handlers
        # can only be set from the main thread; called from another, SIGTERM keeps its action.
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            job = import_job_create(project=proj, source=ImportJob.Source.CLI, total=len(items))
            self._run(proj, items, job, quiet, create_labels)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, proj, items, job, quiet, create_labels):
        started = time.monotonic()
        labels = Label.objects.filter(ontology_id=proj.ontology_id)
        labels_before = list(labels.values_list("pk", flat=True))
        write = job_progress(self, quiet=quiet)

        def progress(job, outcome):
            rate = job.processed / max(time.monotonic() - started, 1e-6)
            write(
                job,
                f"importing {job.processed}/{job.total} ({100 * job.progress:.0f}%) "
                f"{job.imported} imported, {job.duplicates} duplicates, {job.rejected} "
                f"rejected · {rate:.0f} files/s",
            )

        try:
            job = import_run(
                project=proj,
                items=items,
                job=job,
                on_progress=progress,
                create_labels=create_labels,
            )
        except KeyboardInterrupt:
            job.refresh_from_db()
            if job.status == ImportJob.Status.RUNNING:  # stopped before the import loop began
                job = import_job_finish(
                    job, error=INTERRUPTED.format(done=job.processed, total=job.total)
                )
            raise CommandError(job.error) from None
        unknown_labels = False
        for entry in job.report:
            if entry["status"] == "rejected":
                self.stdout.write(f"rejected: {entry['name']}: {entry['error']}")
                unknown_labels = unknown_labels or "unknown label" in entry["error"]
            elif entry["status"] == "duplicate":  # "1 duplicates" named neither file
                self.stdout.write(f"duplicate: {entry['name']}: {entry.get('error', '')}")
            elif entry.get("error"):  # imported, with a word on what was kept of it
                self.stdout.write(f"imported: {entry['name']}: {entry['error']}")
        if unknown_labels and create_labels is None:
            self.stdout.write(
                "(--create-labels adds the labels a manifest names that the project lacks)"
            )
        created = list(
            labels.exclude(pk__in=labels_before).order_by("path").values_list("path", flat=True)
        )
        if created:
            shown = ", ".join(created[:20]) + (" …" if len(created) > 20 else "")
            self.stdout.write(f"{len(created)} label(s) added to the project: {shown}")
        self.stdout.write(
            f"import job {job.pk} into {proj.name!r}: {job.imported} imported, "
            f"{job.duplicates} duplicates, {job.rejected} rejected "
            f"in {time.monotonic() - started:.1f} s"
        )
        if job.error:
            raise CommandError(job.error)
        if job.rejected:
            sys.exit(1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _label_filter(project, create_labels):
    """For Label Studio files: whether a name is one of the project's labels, so that a
    control naming none (a "quality" Choices beside the labels) is left out, as the webhook
    leaves it; None (every control read) where the file's labels may be added."""
    from ontology.models import Label
    from ontology.services import label_named

    has_labels = Label.objects.filter(ontology_id=project.ontology_id).exists()
    if create_labels or (create_labels is None and not has_labels):
        return None
    return lambda name: label_named(ontology=project.ontology, ref=name)
