"""URLs of the exports pages and API (included by labelapp.urls)."""

from django.urls import path

from labelapp import api_exports, views_exports

api_urlpatterns: list = [
    path(
        "projects/<int:project_id>/exports/",
        api_exports.ProjectExportsApi.as_view(),
        name="api-project-exports",
    ),
    path(
        "projects/<int:project_id>/exports/label-studio-config/",
        api_exports.ProjectLabelStudioConfigApi.as_view(),
        name="api-project-label-studio-config",
    ),
    path("exports/<int:job_id>/", api_exports.ExportJobDetailApi.as_view(), name="api-export"),
    path(
        "exports/<int:job_id>/download",
        api_exports.ExportJobDownloadApi.as_view(),
        name="api-export-download",
    ),
]
page_urlpatterns: list = [
    path("projects/<int:project_id>/exports/", views_exports.exports_page, name="exports-page"),
]
