"""The tree editor page: server-rendered shell, `static/earmark/ontology.js` does the rest."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelapp import selectors
from labelapp.views import or_404
from ontology.formats import MAX_BYTES


@login_required
def ontology_editor(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id)
    role = selectors.role_in_project(request.user, project)
    return render(
        request,
        "ontology/editor.html",
        {
            "project": project,
            "ontology": project.ontology,
            "role": role,
            "is_lead": role == selectors.LEAD,
            "shared_with": project.ontology.projects.live().exclude(pk=project.pk).order_by("name"),
            "import_max_mb": MAX_BYTES // 2**20,
        },
    )
