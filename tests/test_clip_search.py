"""Finding clips: by name, status, labeled or not, by label (children included) and by
annotator for reviewers and leads, in an order; the project page and the API share it."""

from __future__ import annotations

import unicodedata

import pytest

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def clips(project, annotator, lead):
    for path in ("birds/robin", "birds/crow", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)

    def make(name, duration, priority=0.0):
        n = Clip.objects.count() + 1
        return Clip.objects.create(
            project=project,
            file=f"x/{n}.wav",
            sha256=f"{n:064d}",
            original_name=name,
            duration=duration,
            sample_rate=16000,
            channels=1,
            status=Clip.Status.READY,
            priority=priority,
        )

    made = {
        "dawn": make("dawn chorus.wav", 30.0, priority=0.2),
        "dusk": make("Dusk chorus.wav", 10.0, priority=0.9),
        "rain": make("rain.wav", 20.0),
        "wind": make("wind.flac", 5.0),
    }
    annotation_submit(clip=made["dawn"], user=annotator, clip_labels=["birds/robin"])
    annotation_submit(
        clip=made["dusk"],
        user=lead,
        segments=[{"start": 1, "end": 2, "labels": ["birds/crow"]}],
    )
    annotation_submit(clip=made["rain"], user=annotator, clip_labels=["noise"])
    return made


def _sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"


def _names(client, project, **params):
    res = client.get("/api/clips/", {"project": project.pk, **params})
    assert res.status_code == 200, res.content
    return [c["original_name"] for c in res.json()["results"]]


def test_name_status_labeled_and_order(client_for, reviewer, project, clips):
    client = client_for(reviewer)
    assert _names(client, project, q="CHORUS") == ["dawn chorus.wav", "Dusk chorus.wav"]
    assert _names(client, project, labeled="no") == ["wind.flac"]
    assert _names(client, project, labeled="yes", ordering="-duration") == [
        "dawn chorus.wav",
        "rain.wav",
        "Dusk chorus.wav",
    ]
    assert _names(client, project, ordering="priority")[:2] == [
        "Dusk chorus.wav",
        "dawn chorus.wav",
    ]
    assert _names(client, project, status="failed") == []
    # the case of any letter, on SQLite too (its own LIKE folds ASCII only)
    Clip.objects.filter(pk=clips["wind"].pk).update(original_name="Été_ÉCOLE_straße.wav")
    for q in ("été", "école", "STRASSE" if _sqlite() else "STRAßE"):
        assert _names(client, project, q=q) == ["Été_ÉCOLE_straße.wav"], q
    # an accent written either way (a Mac names files with e + a combining accent, NFD)
    nfd = unicodedata.normalize("NFD", "café.wav")
    Clip.objects.filter(pk=clips["wind"].pk).update(original_name=nfd)
    for q in ("café", unicodedata.normalize("NFD", "CAFÉ")):
        assert _names(client, project, q=q) == [nfd], q


def test_by_label_with_its_children_and_by_annotator(
    client_for, reviewer, annotator, project, clips
):
    client = client_for(reviewer)
    # a clip label or a segment's, the children of the label asked for too
    assert _names(client, project, label="birds") == ["dawn chorus.wav", "Dusk chorus.wav"]
    assert _names(client, project, label="crow") == ["Dusk chorus.wav"]  # a unique name
    # or its id, as the API takes labels elsewhere (it was "no label '17'")
    from ontology.models import Label

    birds = Label.objects.get(ontology=project.ontology, path="birds")
    assert _names(client, project, label=str(birds.pk)) == ["dawn chorus.wav", "Dusk chorus.wav"]
    assert _names(client, project, annotator=annotator.username) == [
        "dawn chorus.wav",
        "rain.wav",
    ]
    assert _names(client, project, label="birds", annotator=annotator.username) == [
        "dawn chorus.wav"
    ]
    # a skip is no annotation of the clip
    from labelapp.services.annotations import annotation_skip

    annotation_skip(clip=clips["wind"], user=annotator)
    assert "wind.flac" not in _names(client, project, annotator=annotator.username)


def test_bad_values_are_400s_naming_them_and_annotators_cannot_filter_others_work(
    client_for, reviewer, annotator, project, clips
):
    client = client_for(reviewer)
    for params, words in (
        ({"labeled": "maybe"}, "labeled: yes or no"),
        ({"ordering": "size"}, "ordering: unknown 'size'"),
        ({"label": "owl"}, "no label 'owl'"),
        ({"annotator": "nobody"}, "nobody named 'nobody'"),
        ({"status": "done"}, "status: unknown 'done'"),
    ):
        res = client.get("/api/clips/", {"project": project.pk, **params})
        assert res.status_code == 400 and words in res.json()["detail"], (params, res.json())
    res = client.get("/api/clips/", {"project": project.pk, "q": "a\x00b"})
    assert res.status_code == 400 and "NUL" in res.json()["detail"]
    res = client.get("/api/clips/", {"q": "dawn"})
    assert res.status_code == 400 and "give the project too" in res.json()["detail"]
    res = client_for(annotator).get("/api/clips/", {"project": project.pk, "label": "noise"})
    assert res.status_code == 403
    assert _names(client_for(annotator), project, q="rain") == ["rain.wav"]


def test_the_project_page_finds_clips_and_keeps_the_search_across_pages(
    client, reviewer, project, clips
):
    client.force_login(reviewer)
    html = client.get(
        f"/projects/{project.pk}/", {"q": "chorus", "label": "birds/crow"}
    ).content.decode()
    assert "Dusk chorus.wav" in html and "dawn chorus.wav" not in html
    assert 'data-testid="clip-matches">· 1 match<' in html
    # the status counts keep the search
    assert 'href="?q=chorus&amp;label=birds%2Fcrow&amp;status=ready"' in html
    html = client.get(f"/projects/{project.pk}/", {"ordering": "bogus"}).content.decode()
    assert "ordering: unknown &#x27;bogus&#x27;" in html and "showing every clip" in html
    assert "wind.flac" in html


def test_a_project_that_is_not_an_id_is_a_400(client_for, reviewer, project):
    """It was a 404 "project not found", as if an id had been looked up."""
    res = client_for(reviewer).get("/api/clips/?project=abc")
    assert res.status_code == 400 and "project must be an id" in res.json()["detail"]
    assert client_for(reviewer).get(f"/api/clips/?project={project.pk}").status_code == 200


def test_the_clip_page_gives_an_hours_long_clip_as_a_clock(client, reviewer, clips):
    """It said "3600.000 s" where every other page says 1:00:00.00."""
    client.force_login(reviewer)
    clip = clips["wind"]
    Clip.objects.filter(pk=clip.pk).update(duration=3600.0)
    page = client.get(f"/clips/{clip.pk}/").content.decode()
    assert "1:00:00.00 ·" in page and "3600.000 s" not in page
    Clip.objects.filter(pk=clip.pk).update(duration=0.01)
    assert "0.010 s ·" in client.get(f"/clips/{clip.pk}/").content.decode()
