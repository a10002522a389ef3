"""`python manage.py export_ontology PROJECT --format earmark|audioset|paths [--out FILE]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.services.projects import project_resolve
from ontology.io import EXPORTS, ontology_export


class Command(BaseCommand):
    help = (
        "Export a project's label tree: Earmark JSON (nested), the AudioSet ontology "
        "format, or paths (one /-separated path per line, every label once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--format", choices=list(EXPORTS), default="earmark")
        parser.add_argument("--out", help="write to this file instead of standard output")

    def handle(self, *args, project, format="earmark", out=None, **opts):
        try:
            proj = project_resolve(project)
            text, _, _ = ontology_export(ontology=proj.ontology, format=format)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if out is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}") from None
        self.stderr.write(f"wrote the {format} export of {proj.name} to {out}")
