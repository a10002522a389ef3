"""Model versions and their predictions.

Every prediction names the model version that made it; predictions imported from
elsewhere (Label Studio tasks) hang off an `external` version named after their source.
"""

from __future__ import annotations

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "model_version"], name="prediction_unique"),
        ]
