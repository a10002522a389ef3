"""API routes of the ontology app, mounted under /api/."""

from django.urls import path

from ontology import api

urlpatterns = [
    path("projects/<int:project_id>/ontology/", api.OntologyTreeApi.as_view(), name="api-ontology"),
    path(
        "projects/<int:project_id>/ontology/resolve/",
        api.OntologyResolveApi.as_view(),
        name="api-ontology-resolve",
    ),
    path(
        "projects/<int:project_id>/ontology/labels/",
        api.LabelListApi.as_view(),
        name="api-ontology-labels",
    ),
    path(
        "projects/<int:project_id>/ontology/labels/<int:label_id>/",
        api.LabelDetailApi.as_view(),
        name="api-ontology-label",
    ),
    path(
        "projects/<int:project_id>/ontology/labels/<int:label_id>/merge/",
        api.LabelMergeApi.as_view(),
        name="api-ontology-label-merge",
    ),
    path(
        "projects/<int:project_id>/ontology/import/",
        api.OntologyImportApi.as_view(),
        name="api-ontology-import",
    ),
    path(
        "projects/<int:project_id>/ontology/export",
        api.OntologyExportApi.as_view(),
        name="api-ontology-export",
    ),
    path("projects/<int:project_id>/ontology/export/", api.OntologyExportApi.as_view()),
    path(
        "projects/<int:project_id>/ontology/changes/",
        api.OntologyChangesApi.as_view(),
        name="api-ontology-changes",
    ),
    path(
        "projects/<int:project_id>/ontology/changes/<int:change_id>/undo/",
        api.ChangeUndoApi.as_view(),
        name="api-ontology-change-undo",
    ),
]
