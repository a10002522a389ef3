"""A first model that has not learned its labels suggests nothing, and one trained on clip
labels only suggests no segments: a newcomer's first multi-label model scored every class
0.5-0.65 and covered a 10-minute recording with 200 "segments", which Accept all took."""

from __future__ import annotations

import pytest

from labelapp.selectors import clip_suggestions
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_get_or_create_path
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def predicted(project):
    robin = label_get_or_create_path(ontology=project.ontology, path="birds/robin")[0]
    (clip,) = ready_clips(project, 1)

    def with_metrics(**metrics):
        ModelVersion.objects.filter(project=project).delete()
        version = ModelVersion.objects.create(
            project=project, version=1, name="v1", status="active", metrics=metrics
        )
        Prediction.objects.create(
            clip=clip,
            model_version=version,
            clip_scores={str(robin.pk): 0.9},
            segments=[{"start": 1, "end": 2, "channel": None, "label": robin.pk, "score": 0.8}],
            score=0.9,
        )
        return clip_suggestions(clip)

    return with_metrics


def test_a_model_under_the_bar_suggests_nothing_and_says_why(predicted):
    weak = predicted(macro_f1=0.21, evaluated_on="training")
    assert weak["clip_labels"] == [] and weak["segments"] == []
    assert weak["withheld"].startswith("v1 is not good enough to suggest yet (macro-F1 0.21")
    assert "the clips it trained on" in weak["withheld"]
    good = predicted(macro_f1=0.8, evaluated_on="validation", segment_examples=25)
    assert "withheld" not in good
    assert [s["label"] for s in good["clip_labels"]] == ["birds/robin"]
    assert len(good["segments"]) == 1


def test_a_model_trained_on_few_segments_suggests_none_and_says_so(predicted):
    clip_only = predicted(macro_f1=0.8, segment_examples=0)
    assert clip_only["segments"] == [] and len(clip_only["clip_labels"]) == 1
    few = predicted(macro_f1=0.8, segment_examples=14)
    assert few["segments"] == []
    assert few["segments_withheld"] == (
        "v1 learned from 14 clips labeled by segments: it suggests segments from 20 on"
    )
    older = predicted(macro_f1=0.8)  # a version from before the count: as it was
    assert len(older["segments"]) == 1 and "segments_withheld" not in older
