"""URLs of the dashboard pages and API (included by labelapp.urls)."""

from django.urls import path

from labelapp import views_dashboard

api_urlpatterns = [
    path(
        "projects/<int:project_id>/dashboard/",
        views_dashboard.ProjectDashboardApi.as_view(),
        name="api-project-dashboard",
    ),
    path(
        "projects/<int:project_id>/dashboard/jobs/",
        views_dashboard.ProjectDashboardJobsApi.as_view(),
        name="api-project-dashboard-jobs",
    ),
]
page_urlpatterns = [
    path(
        "projects/<int:project_id>/dashboard/",
        views_dashboard.dashboard_page,
        name="project-dashboard",
    ),
]
