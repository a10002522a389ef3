"""A training's validation split can hold out whole groups of clips named by a metadata field
(a speaker, a site): clips of one voice on both sides measure memory of that voice, and early
stopping kept the model that best recalled voices it had heard."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from ml_backend import training
from ml_backend.models import MLConfig, TrainingRun
from ontology.services import label_create
from tests.test_pretraining import _train

pytestmark = pytest.mark.django_db


@pytest.fixture
def speakers_project(
    project, annotator, wav_factory, monkeypatch, django_capture_on_commit_callbacks
):
    """16 labeled 0.5 s clips (two labels), four of each of four speakers; a validation set
    from 4 labeled clips on."""
    monkeypatch.setattr(training, "MIN_STEPS", 10)
    monkeypatch.setattr(training, "PRETRAIN", "off")
    monkeypatch.setattr(training, "MIN_FOR_VALIDATION", 4)
    project.label_mode, project.annotation_mode, project.target_sample_rate = "single", "clip", 8000
    project.save()
    MLConfig.objects.create(project=project, min_labels=1000, epochs=1)
    low, high = (label_create(ontology=project.ontology, name=n) for n in ("low", "high"))
    for i in range(16):
        path = wav_factory(f"s{i}.wav", seconds=0.5, sr=8000, freq=300.0 + 150.0 * (i % 2))
        item = ImportItem(name=path.name, path=path, metadata={"speaker": f"sp{i // 4}"})
        with django_capture_on_commit_callbacks(execute=True):
            outcome = clip_import(project=project, item=item)
        clip = Clip.objects.get(pk=outcome.clip_id)
        annotation_submit(clip=clip, user=annotator, clip_labels=[(low if i % 2 else high).pk])
    return project


def test_by_default_each_clip_is_a_group_of_its_own(speakers_project):
    metrics = _train(speakers_project).metrics
    assert metrics["segment_examples"] == 0  # clip labels only: no segment suggestions
    assert metrics["evaluated_on"] == "validation"
    assert metrics["groups"] == 16 and metrics["val_groups"] == metrics["val_size"] == 2
    assert "validation_group_by" not in metrics


def test_a_speaker_field_holds_out_whole_speakers(speakers_project):
    MLConfig.objects.filter(project=speakers_project).update(validation_group_by="speaker")
    metrics = _train(speakers_project).metrics
    assert metrics["evaluated_on"] == "validation"
    assert metrics["validation_group_by"] == "speaker"
    # One speaker's four clips, not two clips of any speakers.
    assert (metrics["groups"], metrics["val_groups"], metrics["val_size"]) == (4, 1, 4)
    assert metrics["clips_without_group"] == 0


def test_clips_without_the_field_are_groups_of_their_own(speakers_project):
    Clip.objects.filter(project=speakers_project, original_name__in=["s0.wav", "s1.wav"]).update(
        metadata={}
    )
    MLConfig.objects.filter(project=speakers_project).update(validation_group_by="speaker")
    metrics = _train(speakers_project).metrics
    assert metrics["clips_without_group"] == 2
    assert metrics["groups"] == 4 + 2  # sp0's other two clips still make a group


def test_too_few_groups_to_hold_one_out_is_said_as_training_figures(speakers_project):
    """The version said "validation" whenever a validation share was asked for, though the
    split found too few groups and measured the training set."""
    Clip.objects.filter(project=speakers_project).update(metadata={"speaker": "one voice"})
    MLConfig.objects.filter(project=speakers_project).update(validation_group_by="speaker")
    metrics = _train(speakers_project).metrics
    assert metrics["val_size"] == 0 and metrics["groups"] == 1
    assert metrics["evaluated_on"] == "training"


def test_the_field_is_set_through_the_api_by_a_lead_only(project, lead, annotator, client_for):
    url = f"/api/projects/{project.pk}/model/"
    response = client_for(lead).patch(url, {"validation_group_by": "  speaker "}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["config"]["validation_group_by"] == "speaker"
    assert MLConfig.objects.get(project=project).validation_group_by == "speaker"
    for bad in (5, ["speaker"], "two\nlines", "x" * 65):
        response = client_for(lead).patch(url, {"validation_group_by": bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert "validation_group_by" in response.json()
    assert MLConfig.objects.get(project=project).validation_group_by == "speaker"
    response = client_for(annotator).patch(url, {"validation_group_by": ""}, format="json")
    assert response.status_code == 403
    cleared = client_for(lead).patch(url, {"validation_group_by": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["config"]["validation_group_by"] == ""


def test_the_model_page_suggests_the_clips_metadata_fields(speakers_project, lead, client):
    client.force_login(lead)
    page = client.get(f"/projects/{speakers_project.pk}/model/").content.decode()
    assert 'name="validation_group_by"' in page
    assert '<option value="speaker">' in page


def test_the_first_model_is_v1_after_predictions_were_imported(speakers_project):
    """Imported predictions take a version number: the project's first model was "v2"."""
    from ml_backend.services import external_model_version

    external_model_version(project=speakers_project, name="birdnet-2.4")
    version = _train(speakers_project)
    assert version.name == "v1" and version.version == 2


def test_a_field_no_clip_has_is_refused_naming_the_ones_they_have(
    speakers_project, lead, client_for
):
    """ "SPEAKER" was taken: nothing was grouped, and speakers leaked into validation."""
    url = f"/api/projects/{speakers_project.pk}/model/"
    res = client_for(lead).patch(url, {"validation_group_by": "SPEAKER"}, format="json")
    assert res.status_code == 400
    assert res.json()["validation_group_by"] == [
        "no clip of this project has a metadata field 'SPEAKER'; its clips have: speaker"
    ]
    ok = client_for(lead).patch(url, {"validation_group_by": "speaker"}, format="json")
    assert ok.status_code == 200


def test_a_training_in_a_media_outage_says_so(speakers_project, monkeypatch):
    """It failed with libsndfile's words and the server's path."""
    from labelapp import media

    def unreadable(*args, **kwargs):
        raise OSError("Error opening '/srv/media/clips/4/34/x.wav': System error.")

    monkeypatch.setattr("ml_backend.dataset.clips_features", unreadable)
    monkeypatch.setattr(media, "local_store_gone", lambda: True)
    run = training.training_request(project=speakers_project)
    assert training.training_execute(run.pk) == "failed"
    error = TrainingRun.objects.get(pk=run.pk).error
    assert error.startswith("the media store is not answering") and "/srv" not in error
