"""python manage.py clip_metadata PROJECT --from-names "{digit}_{speaker}_{take}" [--dry-run]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.management import project_or_error
from labelapp.services.clip_metadata import clips_metadata_from_names


class Command(BaseCommand):
    help = (
        "Set clip metadata from the clips' file names: --from-names '{digit}_{speaker}_{take}' "
        "reads 7_jackson_12.wav as digit 7, speaker jackson, take 12 (a manifest export can "
        "then group by speaker)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--from-names", required=True, metavar="PATTERN")
        parser.add_argument("--dry-run", action="store_true", help="report only")

    def handle(self, *args, project, from_names, dry_run=False, **opts):
        proj = project_or_error(project)
        try:
            report = clips_metadata_from_names(project=proj, pattern=from_names, dry_run=dry_run)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        verb = "would set" if dry_run else "set"
        self.stdout.write(
            f"{report.matched} clip(s) matched ({', '.join(report.fields)}): {verb} on "
            f"{report.changed}; {report.unmatched} did not match"
            + (f" (e.g. {', '.join(report.unmatched_examples)})" if report.unmatched else "")
        )
        for example in report.matched_examples[:3]:
            self.stdout.write(f"  {example}")
