"""CSV of the active version's clip-level predictions: clip_id,original_name,model_version,
label,score, each clip's labels best first."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from labelapp.exports.common import SafeCsvWriter
from labelapp.management import file_to_write, project_or_error
from ml_backend.models import Prediction
from ml_backend.selectors import active_model_version
from ontology.models import Label

COLUMNS = ["clip_id", "original_name", "model_version", "label", "score"]


class Command(BaseCommand):
    help = (
        "Export the active model version's clip-level predictions as CSV: the clips it has "
        "scored (pre-labeling scores the unlabeled ones; a clip labeled before the version "
        "came is not among them)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, project, out=None, **opts):
        proj = project_or_error(project)
        if out:
            out = file_to_write(out)
        version = active_model_version(proj)
        if version is None:
            raise CommandError(f"project {proj.name!r} has no active model version yet")
        paths = dict(Label.objects.filter(ontology_id=proj.ontology_id).values_list("pk", "path"))
        fh = open(out, "w", newline="", encoding="utf-8") if out else self.stdout  # noqa: SIM115
        try:
            self._write(fh, version, paths)
        except BrokenPipeError:
            # `export_predictions P | head` ended in a traceback: the reader has what it wanted.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            if out:
                fh.close()

    @staticmethod
    def _write(fh, version, paths) -> None:
        writer = SafeCsvWriter(fh)
        writer.writerow(COLUMNS)
        rows = (
            Prediction.objects.filter(model_version=version)
            .select_related("clip")
            .order_by("clip_id")
            .iterator(chunk_size=2000)
        )
        for pred in rows:
            scores = sorted(pred.clip_scores.items(), key=lambda kv: (-kv[1], kv[0]))
            for label_id, score in scores:
                label = paths.get(int(label_id))
                if label is not None:
                    writer.writerow(
                        [
                            pred.clip_id,
                            pred.clip.original_name,
                            version.name,
                            label,
                            f"{score:.4f}",
                        ]
                    )
