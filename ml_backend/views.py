"""The model page: versions and their metrics, training and pre-labeling jobs with progress."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelapp import selectors
from labelapp.views import or_404
from ml_backend import training


@login_required
def model_page(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id)
    role = selectors.role_in_project(request.user, project)
    return render(
        request,
        "ml_backend/model.html",
        {
            "project": project,
            "is_lead": role == selectors.LEAD,
            # What a first training starts from (EARMARK_PRETRAIN), said beside its threshold.
            "pretrain": training.PRETRAIN,
            "pretrain_min_labels": training.PRETRAIN_MIN_LABELS,
            "pretrain_min_clips": training.PRETRAIN_MIN_CLIPS,
            "metadata_fields": selectors.metadata_fields(project),
            "min_for_validation": training.MIN_FOR_VALIDATION,
        },
    )
