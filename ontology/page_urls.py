"""Page routes of the ontology app (tree editor), mounted at the site root."""

from django.urls import path

from ontology import views

urlpatterns = [
    path("projects/<int:project_id>/ontology/", views.ontology_editor, name="ontology-editor"),
]
