"""API routes of the ML layer, mounted under /api/."""

from django.urls import path

from ml_backend import api

urlpatterns = [
    path("projects/<int:project_id>/model/", api.ProjectModelApi.as_view(), name="api-model"),
    path("projects/<int:project_id>/train/", api.ProjectTrainApi.as_view(), name="api-train"),
    path(
        "projects/<int:project_id>/predictions/",
        api.ProjectPredictionsImportApi.as_view(),
        name="api-predictions-import",
    ),
    path(
        "projects/<int:project_id>/prelabel/", api.ProjectPrelabelApi.as_view(), name="api-prelabel"
    ),
    path(
        "model-versions/<int:version_id>/", api.ModelVersionApi.as_view(), name="api-model-version"
    ),
    path(
        "model-versions/<int:version_id>/activate/",
        api.ModelVersionActivateApi.as_view(),
        name="api-model-version-activate",
    ),
    path("training-runs/<int:run_id>/", api.TrainingRunApi.as_view(), name="api-training-run"),
    path(
        "training-runs/<int:run_id>/cancel/",
        api.TrainingRunCancelApi.as_view(),
        name="api-training-run-cancel",
    ),
    path("prelabel-runs/<int:run_id>/", api.PrelabelRunApi.as_view(), name="api-prelabel-run"),
    path(
        "prelabel-runs/<int:run_id>/cancel/",
        api.PrelabelRunCancelApi.as_view(),
        name="api-prelabel-run-cancel",
    ),
]
