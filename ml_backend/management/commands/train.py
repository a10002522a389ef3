from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.services.projects import project_resolve
from ml_backend.management.commands._wait import wait_for_row
from ml_backend.models import TrainingRun
from ml_backend.training import training_note, training_request


class Command(BaseCommand):
    help = "Queue a training of a project's model on a worker; --wait follows it to the end."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--wait", action="store_true", help="wait and show progress")

    def handle(self, *args, project, wait=False, **opts):
        try:
            proj = project_resolve(project)
            run = training_request(project=proj, trigger="manual")
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"training run {run.pk} queued for {proj.name!r}")
        note = training_note(proj)
        if note:
            self.stdout.write(self.style.WARNING(note))
        if not wait:
            return
        run = wait_for_row(
            self,
            lambda: TrainingRun.objects.get(pk=run.pk),
            describe=lambda r: f"training {r.status} {100 * r.progress:.0f}% {r.message}",
            done=lambda r: r.status not in TrainingRun.ACTIVE_STATUSES,
            goes_on=f"; cancel it on the project's model page, or POST "
            f"/api/training-runs/{run.pk}/cancel/",
        )
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"training {run.status}: {run.error or run.message}")
        version = run.model_version
        metrics = version.metrics
        accuracy = metrics.get("accuracy")
        shown = f"{100 * accuracy:.1f}%" if isinstance(accuracy, int | float) else "n/a"
        # As the model page says it: a project too small to hold labels out is measured on them.
        on = (
            "training accuracy (too few labels to hold out)"
            if metrics.get("evaluated_on") == "training"
            else "validation accuracy"
        )
        self.stdout.write(f"{version.name} active: {shown} {on}")
