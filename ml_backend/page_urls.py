"""Page routes of the ML layer."""

from django.urls import path

from ml_backend import views

urlpatterns = [
    path("projects/<int:project_id>/model/", views.model_page, name="model-page"),
]
