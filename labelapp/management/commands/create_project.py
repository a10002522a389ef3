from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labelapp.errors import DomainError
from labelapp.services.projects import project_create


class Command(BaseCommand):
    help = "Create a project (with an empty ontology, or one imported from --ontology FILE)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument("--ontology", help="an ontology file (Earmark JSON, AudioSet, paths)")
        parser.add_argument("--label-mode", choices=["single", "multi"], default="single")
        parser.add_argument(
            "--annotation-mode", choices=["clip", "segments", "both"], default="both"
        )
        parser.add_argument(
            "--overlap", type=int, default=1, help="annotations wanted per clip (default 1)"
        )
        parser.add_argument(
            "--sample-rate",
            type=int,
            default=16000,
            help="target sample rate for the model (default 16000)",
        )
        parser.add_argument("--leaves-only", action="store_true")

    def handle(self, *args, **opts):
        if opts["overlap"] < 1:
            raise CommandError("--overlap must be at least 1")
        try:
            with transaction.atomic():
                project = project_create(
                    name=opts["name"],
                    description=opts["description"],
                    label_mode=opts["label_mode"],
                    annotation_mode=opts["annotation_mode"],
                    annotations_per_clip=opts["overlap"],
                    target_sample_rate=opts["sample_rate"],
                    leaves_only=opts["leaves_only"],
                )
                if opts["ontology"]:
                    from ontology.io import ontology_import_file

                    ontology_import_file(project=project, path=Path(opts["ontology"]))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except FileNotFoundError as exc:
            raise CommandError(f"ontology file not found: {exc.filename}") from None
        self.stdout.write(f"created project {project.pk}: {project.name}")
