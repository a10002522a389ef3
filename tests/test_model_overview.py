"""The model page's overview says why no training starts by itself (an exploratory tester's
project labeled with one label only showed no job and no reason), and a multi-label version
carries micro-F1 beside its exact-match accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from labelapp.services.annotations import annotation_submit
from ml_backend.metrics import compute_metrics
from ml_backend.models import MLConfig, ModelVersion, TrainingRun
from ontology.services import label_get_or_create_path
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


def _waiting(client, project) -> str:
    response = client.get(f"/api/projects/{project.pk}/model/")
    assert response.status_code == 200, response.content
    return response.json()["waiting"]


def test_the_overview_says_why_no_training_starts(project, lead, annotator, client_for):
    project.label_mode = "single"  # multi-label, "call" would be a class of its own
    project.save(update_fields=["label_mode"])
    MLConfig.objects.create(project=project, min_labels=3)
    for path in ("call/song", "call/alarm"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    clips = ready_clips(project, 4)
    client = client_for(lead)
    assert _waiting(client, project) == (
        "The first training starts by itself at 3 labeled clips (0 so far)."
    )
    for clip in clips[:3]:
        annotation_submit(clip=clip, user=annotator, clip_labels=["call/song"])
    assert _waiting(client, project).startswith(
        "No training can start: it needs labeled examples of at least two labels (found 1)."
    )
    annotation_submit(clip=clips[3], user=annotator, clip_labels=["call/alarm"])
    assert _waiting(client, project) == ""
    # the first training was cancelled: nothing starts until the next label (it said nothing)
    TrainingRun.objects.create(project=project, status="cancelled")
    assert _waiting(client, project) == (
        "The last training cancelled: the next label starts another, or press Train now."
    )
    MLConfig.objects.filter(project=project).update(enabled=False)
    assert _waiting(client, project).startswith("Automatic training is off")
    MLConfig.objects.filter(project=project).update(enabled=True)
    ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    assert _waiting(client_for(annotator), project) == ""


def test_multi_label_metrics_carry_micro_f1_beside_exact_match_accuracy():
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]])
    probs = np.array([[0.9, 0.8, 0.1], [0.9, 0.6, 0.2], [0.2, 0.9, 0.3]])
    m = compute_metrics(y, probs, multi_label=True)
    assert m["accuracy"] == pytest.approx(1 / 3)  # one clip with every label right
    # tp 4 (0,0 0,1 1,0 2,1), fp 1 (1,1), fn 1 (2,2): 2*4 / (8 + 1 + 1)
    assert m["micro_f1"] == pytest.approx(0.8)
    assert "micro_f1" not in compute_metrics(np.array([0, 1]), np.eye(2), multi_label=False)
