"""Input and output shapes of the exports API."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from labelapp.models import ExportJob
from labelapp.strict import StrictInput


class ExportJobCreateSerializer(StrictInput, serializers.Serializer):
    # Checked by the service, whose message lists the formats; the schema lists them too.
    format = serializers.CharField(
        max_length=32, help_text="earmark, label_studio, csv, manifest or raven"
    )
    filters = serializers.DictField(required=False, default=dict)
    options = serializers.DictField(required=False, default=dict)


class ExportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    format_label = serializers.CharField(source="get_format_display", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "project",
            "format",
            "format_label",
            "status",
            "progress",
            "total",
            "done",
            "filters",
            "options",
            "summary",
            "size_bytes",
            "error",
            "download_url",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_download_url(self, job) -> str | None:
        if job.status != ExportJob.Status.DONE:
            return None
        return reverse("api-export-download", args=[job.pk])
