"""The label tree of a project: any depth, shared by several projects if wanted.

`Label.path` is the `/`-joined chain of names from the root ("speech/command/stop"). It is
derived data, kept in step by the services whenever a label is renamed or moved, so that
reads (pickers, exports, imports by path) never walk the tree row by row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

PATH_SEPARATOR = "/"


class Ontology(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Bumped on every change; annotations and model versions record the version they saw.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "ontologies"

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class Label(models.Model):
    ontology = models.ForeignKey(Ontology, on_delete=models.CASCADE, related_name="labels")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    color = models.CharField(max_length=7, blank=True, help_text="#rrggbb")
    hotkey = models.CharField(max_length=16, blank=True)
    external_id = models.CharField(max_length=200, blank=True, help_text="e.g. an AudioSet id")
    order = models.IntegerField(default=0)
    deprecated = models.BooleanField(default=False)
    path = models.CharField(max_length=2000, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            # Case-insensitive unique paths == case-insensitive unique names among siblings.
            models.UniqueConstraint("ontology", Lower("path"), name="label_unique_path_ci"),
        ]
        indexes = [models.Index(fields=["ontology", "path"])]

    def __str__(self) -> str:
        return self.path

    @property
    def ancestor_paths(self) -> list[str]:
        parts = self.path.split(PATH_SEPARATOR)
        return [PATH_SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]


class OntologyChange(models.Model):
    """One entry of an ontology's change log: who changed what, when."""

    ontology = models.ForeignKey(Ontology, on_delete=models.CASCADE, related_name="changes")
    version = models.PositiveIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=32)
    details = models.JSONField(default=dict)
    # A merge's record of what undoing it needs (ontology.unmerge): ids of every use it moved.
    # Its own column, read only by an undo: the change log's readers never load it.
    undo = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
