"""The exports page: a lead picks a format and filters, starts a job and downloads it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelapp import selectors
from labelapp.exports import label_studio_config
from labelapp.exports.filters import export_annotator_choices
from labelapp.models import Annotation, ExportJob
from labelapp.views import or_404
from ontology.tree import tree_for_ontology_id


@login_required
def exports_page(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id, (selectors.LEAD,))
    from ml_backend.selectors import active_model_version

    return render(
        request,
        "exports/exports.html",
        {
            "project": project,
            "formats": ExportJob.Format.choices,
            "statuses": Annotation.Status.values,
            "labels": [n.path for n in tree_for_ontology_id(project.ontology_id).ordered],
            "annotators": export_annotator_choices(project),
            "metadata_fields": selectors.metadata_fields(project),
            "active_version": active_model_version(project),
            "ls_config": label_studio_config(project),
            # The config that fits clip labels exported as choices (it showed the taxonomy's
            # whatever was chosen, and Label Studio refused such results).
            "ls_config_choices": label_studio_config(project, clip_labels="choices"),
            "earlier_manifests": ExportJob.objects.filter(
                project=project, format=ExportJob.Format.MANIFEST, status=ExportJob.Status.DONE
            ).order_by("-id")[:20],
        },
    )
