"""Demo accounts and a demo project, idempotent: running it twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labelapp.models import ImportJob, Membership, Project
from labelapp.services.imports import ImportItem, import_job_create, import_run
from labelapp.services.projects import membership_set, project_create
from ontology.models import Label
from ontology.services import label_get_or_create_path

DEMO_PROJECT = "Spoken digits (demo)"
DEMO_USERS = [
    # (username, password, role, is_superuser)
    ("admin", "earmark-admin", None, True),
    ("lead", "earmark-lead", Membership.Role.LEAD, False),
    ("reviewer", "earmark-reviewer", Membership.Role.REVIEWER, False),
    ("annotator", "earmark-annotator", Membership.Role.ANNOTATOR, False),
]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class Command(BaseCommand):
    help = "Create demo accounts and a demo project with clips (FSDD if present, else synthesized)."

    def add_arguments(self, parser):
        parser.add_argument("--clips", type=int, default=300, help="FSDD clips to import")
        parser.add_argument(
            "--public-demo-passwords",
            action="store_true",
            help="with DEBUG=false: make the demo accounts anyway (a trial deployment; their "
            "passwords are in the README, admin's included)",
        )

    def handle(self, *args, clips: int = 300, **opts):
        if not settings.DEBUG and not opts.get("public_demo_passwords"):
            # A production deployment with admin / earmark-admin is anyone's.
            raise CommandError(
                "DEBUG is false (production): the demo accounts' passwords are public (README), "
                "a site admin's included. For a trial deployment run again with "
                "--public-demo-passwords; for real use create accounts with "
                "`python manage.py createsuperuser`."
            )
        User = get_user_model()
        users = {}
        for username, password, _role, superuser in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username, password=password, is_staff=superuser, is_superuser=superuser
                )
            users[username] = user
        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            project = project_create(
                name=DEMO_PROJECT,
                created_by=users["admin"],
                label_mode="single",
                annotation_mode="both",
                target_sample_rate=8000,
                leaves_only=True,  # "digit" itself names no digit: only digit/0 ... digit/9
                description="Free Spoken Digit Dataset recordings (CC BY-SA 4.0): label the "
                "digit that is spoken.",
            )
        for username, _pw, role, _su in DEMO_USERS:
            if role:
                membership_set(project=project, user=users[username], role=role)
        for i, digit in enumerate(DIGITS):
            label, _ = label_get_or_create_path(ontology=project.ontology, path=f"digit/{digit}")
            if not label.hotkey:
                Label.objects.filter(pk=label.pk).update(hotkey=str(i))
        label_get_or_create_path(ontology=project.ontology, path="noise")
        if not project.clips.exists():
            self._import_clips(project, clips)
            # No model yet: rank the queue for a cold start (diverse clips first) on a worker.
            from ml_backend.prelabel import prelabel_request

            with transaction.atomic():
                prelabel_request(project=project)
        self.stdout.write(
            self.style.SUCCESS(
                f"demo project {project.name!r} (id {project.pk}): {project.clips.count()} clips"
            )
        )
        self.stdout.write("demo accounts (log in at /accounts/login/):")
        for username, password, role, _su in DEMO_USERS:
            self.stdout.write(f"  {username:10s} password {password:18s} {role or 'site admin'}")

    def _import_clips(self, project: Project, limit: int) -> None:
        recordings = Path(settings.EARMARK_FSDD_DIR) / "recordings"
        if recordings.is_dir():
            files = sorted(recordings.glob("*.wav"))
            # Spread the demo over speakers and digits rather than taking one speaker's zeros.
            files = files[:: max(1, len(files) // max(1, limit))][:limit]
            items = [
                ImportItem(name=f.name, path=f, metadata={"speaker": f.stem.split("_")[1]})
                for f in files
            ]
            source = f"FSDD at {recordings}"
            # Validation holds out whole speakers, as a deployment meets new voices.
            from ml_backend.training import ml_config

            config = ml_config(project)
            config.validation_group_by = "speaker"
            config.save(update_fields=["validation_group_by"])
        else:
            items = [ImportItem(name=p.name, path=p) for p in self._synthesize()]
            source = "synthesized clips (FSDD not found)"
        self.stdout.write(f"importing {len(items)} demo clips from {source}...")
        job = import_job_create(project=project, source=ImportJob.Source.CLI, total=len(items))
        import_run(project=project, items=items, job=job)

    def _synthesize(self) -> list[Path]:
        out = Path(settings.VAR_DIR) / "demo_audio"
        out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(7)
        sr = 16000
        paths = []
        for i in range(24):
            seconds = 2 + (i % 5)
            t = np.arange(int(seconds * sr)) / sr
            f0 = 200 + 80 * (i % 10)
            tone = 0.4 * np.sin(2 * np.pi * (f0 + 40 * t) * t) * (t % 1 < 0.6)
            noise = 0.03 * rng.standard_normal(t.size)
            path = out / f"synth_{i:02d}.wav"
            sf.write(path, (tone + noise).astype(np.float32), sr, subtype="PCM_16")
            paths.append(path)
        return paths
