from django.contrib import admin

from ml_backend.models import ModelVersion, Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "name", "status", "training_size", "created_at"]
    list_filter = ["status", "project"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["clip", "model_version", "score", "uncertainty", "created_at"]
    raw_id_fields = ["clip"]
