"""`python manage.py import_ontology PROJECT FILE`: merge a label tree into a project's."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.services.projects import project_resolve
from ontology.formats import FORMATS
from ontology.io import ontology_import_file


class Command(BaseCommand):
    help = (
        "Import labels into a project's ontology from Earmark JSON, an AudioSet ontology "
        "file, or a text/CSV list of /-separated paths (format detected from the content). "
        "Existing labels are kept; nothing is imported if any label is rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("file", help="the ontology file")
        parser.add_argument("--format", choices=FORMATS, help="refuse files of another format")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and report what would change; change nothing",
        )
        parser.add_argument(
            "--list",
            dest="list_max",
            type=int,
            default=20,
            metavar="N",
            help="name at most N labels of each kind created, updated or followed (default 20)",
        )

    def handle(self, *args, project, file, format=None, dry_run=False, list_max=20, **opts):
        try:
            proj = project_resolve(project)
            report = ontology_import_file(
                project=proj, path=Path(file), format=format, dry_run=dry_run
            )
        except FileNotFoundError:
            raise CommandError(f"file not found: {file}") from None
        except IsADirectoryError:
            raise CommandError(f"{file} is a directory, not an ontology file") from None
        except DomainError as exc:
            raise CommandError(f"{file} rejected: {exc.message}") from None
        for warning in report["warnings"]:
            self.stderr.write(f"warning: {warning}")
        prefix = "dry run, nothing changed: would have " if report["dry_run"] else ""
        self.stdout.write(
            f"{prefix}imported {report['labels_in_file']} labels ({report['format']}) into "
            f"{proj.name}: {report['created']} created, {report['updated']} updated, "
            f"{report['unchanged']} unchanged; ontology version {report['version']}"
        )
        named = (
            ("created", report["created_paths"], report["created"], lambda p: p),
            ("updated", report["updated_paths"], report["updated"], lambda p: p),
            (
                "known by a former path",
                report["followed"],
                report["followed_count"],
                lambda f: f"{f['file']} -> {f['now']}",
            ),
        )
        for what, items, total, text in named:
            if not items or list_max <= 0:
                continue
            self.stdout.write(f"{what} ({total}):")
            for item in items[:list_max]:
                self.stdout.write(f"  {text(item)}")
            if total > min(len(items), list_max):
                self.stdout.write(f"  ... and {total - min(len(items), list_max)} more")
