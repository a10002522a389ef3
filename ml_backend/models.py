"""Model versions and their predictions.

Every prediction names the model version that made it; predictions imported from
elsewhere (Label Studio tasks) hang off an `external` version named after their source.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training"
        ACTIVE = "active"
        RETIRED = "retired"
        FAILED = "failed"
        EXTERNAL = "external"

    project = models.ForeignKey(
        "labelapp.Project", on_delete=models.CASCADE, related_name="model_versions"
    )
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    ontology_version = models.PositiveIntegerField(default=1)
    training_size = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    # Label ids in the order of the model's outputs, and the settings its features used.
    classes = models.JSONField(default=list, blank=True)
    feature_config = models.JSONField(default=dict, blank=True)
    training_run = models.OneToOneField(
        "ml_backend.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_version",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="modelversion_unique"),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status="active"),
                name="modelversion_one_active_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.name}"


class MLConfig(models.Model):
    """A project's active-learning settings and its count of labels since the last training."""

    class Strategy(models.TextChoices):
        LEAST_CONFIDENCE = "least_confidence"
        MARGIN = "margin"
        ENTROPY = "entropy"
        BALD = "bald"
        KCENTER = "kcenter"
        HYBRID = "hybrid"
        BADGE = "badge"
        RANDOM = "random"

    project = models.OneToOneField(
        "labelapp.Project", on_delete=models.CASCADE, related_name="ml_config"
    )
    enabled = models.BooleanField(default=True)
    # Train again after max(retrain_every, retrain_growth x the labeled clips of the last
    # training) new human annotations: early on the model follows every few labels (the
    # queue's picks are only as good as the model that ranked them), later a training stays
    # worth its cost. 10 and 0.1 are what benchmarks/active_learning.py measures
    # (RESULTS.md, "Session 10").
    retrain_every = models.PositiveIntegerField(
        default=10, help_text="Train again after at least this many new human annotations."
    )
    retrain_growth = models.FloatField(
        default=0.1,
        help_text="Or after this share of the labeled clips the last training used, when more.",
    )
    # The labeled clips the last training started with (the growth term's base).
    last_training_labels = models.PositiveIntegerField(default=0)
    min_labels = models.PositiveIntegerField(
        default=20, help_text="Labeled clips needed before the first training."
    )
    # Hybrid by default: on FSDD's learning curves it led every other strategy from 120-160
    # labels on (benchmarks/RESULTS.md, "Label efficiency").
    strategy = models.CharField(max_length=24, choices=Strategy.choices, default=Strategy.HYBRID)
    labels_since_training = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=30)
    # A clip metadata field (speaker, site, recording) whose clips stay on one side of the
    # training's validation split: clips of one voice on both sides measure memory of that
    # voice, and early stopping then keeps the model that best recalls voices it has heard,
    # not the one that best meets new voices. "" = each clip a group of its own.
    validation_group_by = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Clip metadata field whose values stay together in validation (e.g. speaker).",
    )
    # The last `simulate_al` result (see ml_backend.simulation): accuracy and macro-F1 against
    # labels used, per strategy, so the model page can show what active learning buys here.
    learning_curves = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"ML settings of {self.project_id}"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    project = models.ForeignKey(
        "labelapp.Project", on_delete=models.CASCADE, related_name="training_runs"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=12, default="manual")  # manual | auto | simulate
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The Celery node running it ("celery@host"): when that node starts again, the run died
    # with its last process (it showed "running" for 5 minutes, until the sweep).
    worker = models.CharField(max_length=255, blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Never two trainings of one project at once: the database says no.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="trainingrun_one_active_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"training {self.pk} of project {self.project_id} ({self.status})"


class PrelabelRun(models.Model):
    """Scoring and ranking of unlabeled clips with one model version, in batches."""

    # A training's life cycle; cancelled: superseded by a newer model version.
    Status = TrainingRun.Status

    class Kind(models.TextChoices):
        PRELABEL = "prelabel", "Score and rank"  # model outputs, then priorities
        RANK = "rank", "Rank"  # priorities from stored predictions (e.g. a new strategy)

    project = models.ForeignKey(
        "labelapp.Project", on_delete=models.CASCADE, related_name="prelabel_runs"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PRELABEL)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when it starts and with each batch: a running one silent for long lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The Celery node running it ("celery@host"): when that node starts again, the run died
    # with its last process (it showed "running" for 5 minutes, until the sweep).
    worker = models.CharField(max_length=255, blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def job_name(self) -> str:
        """What the model page and the dashboard call it. One without a model version is the
        cold start: clips ordered for variety, nothing scored."""
        if self.kind == self.Kind.RANK:
            return "ranking"
        return "cold-start ranking" if self.model_version_id is None else "pre-labeling"

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 0.0


class Prediction(models.Model):
    clip = models.ForeignKey("labelapp.Clip", on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    # {"<label id>": score}: ids, not paths, so renames and moves keep pointing right.
    clip_scores = models.JSONField(default=dict, blank=True)
    # [{"start": s, "end": s, "channel": int|None, "label": id, "score": float}]
    segments = models.JSONField(default=list, blank=True)
    score = models.FloatField(null=True, blank=True)
    uncertainty = models.FloatField(null=True, blank=True)
    # float16 bytes of the clip's embedding (diversity sampling, drift, duplicates)
    embedding = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "model_version"], name="prediction_unique"),
        ]
