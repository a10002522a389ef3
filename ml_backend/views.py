"""The model page: versions and their metrics, training and pre-labeling jobs with progress."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from labelapp import selectors
from labelapp.errors import DomainError


@login_required
def model_page(request, project_id: int):
    try:
        project = selectors.project_for_user(request.user, project_id)
    except DomainError as exc:
        raise Http404(exc.message) from None
    role = selectors.role_in_project(request.user, project)
    return render(
        request, "ml_backend/model.html", {"project": project, "is_lead": role == selectors.LEAD}
    )
