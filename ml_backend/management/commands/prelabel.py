from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labelapp.management import project_or_error
from ml_backend.management.commands._wait import wait_for_row
from ml_backend.models import PrelabelRun
from ml_backend.prelabel import prelabel_active_request


class Command(BaseCommand):
    help = "Score and rank a project's unlabeled clips with its active model, on a worker."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--wait", action="store_true", help="wait and show progress")

    def handle(self, *args, project, wait=False, **opts):
        proj = project_or_error(project)
        with transaction.atomic():
            run, created = prelabel_active_request(project=proj)
        what = run.model_version.name if run.model_version else "a cold start (no model yet)"
        queued = "queued" if created else "already queued"
        self.stdout.write(f"pre-labeling run {run.pk} {queued} for {proj.name!r}: {what}")
        if not wait:
            return
        run = wait_for_row(
            self,
            lambda: PrelabelRun.objects.get(pk=run.pk),
            describe=lambda r: f"{r.job_name} {r.status} {r.done}/{r.total}",
            goes_on=f"; cancel it on the project's model page, or POST "
            f"/api/prelabel-runs/{run.pk}/cancel/",
            done=lambda r: (
                r.status
                in (
                    PrelabelRun.Status.SUCCEEDED,
                    PrelabelRun.Status.FAILED,
                    PrelabelRun.Status.CANCELLED,
                )
            ),
        )
        if run.status == PrelabelRun.Status.FAILED:
            raise CommandError(f"pre-labeling failed: {run.error}")
        if run.status == PrelabelRun.Status.CANCELLED:
            self.stdout.write(f"{run.job_name} cancelled {run.error}".rstrip())
            return
        self.stdout.write(f"{run.done} clips scored and ranked")
