"""A segment's frequency band (`low_freq`, `high_freq` in Hz): a box on the spectrogram, as
Raven's selections and Whombat's boxes have. Taken by the API and the CSV manifest, checked
against the clip's Nyquist frequency, kept by a review's correction, said in the history,
written by the CSV and Raven exports."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from labelapp.exports import export_write
from labelapp.models import Annotation, Clip, Segment
from labelapp.services.imports import import_job_create, import_run
from labelapp.services.manifests import items_from_paths
from labelapp.templatetags.earmark_audio import band
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(project):
    project.annotation_mode = "both"
    project.save()
    birds = label_create(ontology=project.ontology, name="birds")
    return {
        "wren": label_create(ontology=project.ontology, name="wren", parent=birds),
        "noise": label_create(ontology=project.ontology, name="noise"),
    }


def submit(client, clip, segments, **extra):
    return client.post(
        f"/api/clips/{clip.pk}/annotations/", {"segments": segments, **extra}, format="json"
    )


def seg(start=1.0, end=2.0, labels=("birds/wren",), **band_):
    return {"start": start, "end": end, "labels": list(labels), **band_}


def test_a_band_is_stored_and_answered_and_none_is_every_frequency(
    client_for, annotator, project, labels
):
    (clip,) = ready_clips(project, 1)  # 16 kHz: Nyquist 8,000 Hz
    response = submit(
        client_for(annotator),
        clip,
        [
            seg(low_freq=1200.04, high_freq=4000),
            seg(3.0, 4.0),  # no band
            seg(5.0, 6.0, low_freq=0, high_freq=8000),  # the whole height: every frequency
            seg(7.0, 8.0, low_freq=500, high_freq=8000.6),  # drawn to the top, rounded
        ],
    )
    assert response.status_code == 201, response.json()
    out = response.json()["annotation"]["segments"]
    assert [(s["start"], s["low_freq"], s["high_freq"]) for s in out] == [
        (1.0, 1200.0, 4000.0),
        (3.0, None, None),
        (5.0, None, None),
        (7.0, 500.0, 8000.0),
    ]
    stored = Segment.objects.order_by("start")
    assert [(s.low_freq, s.high_freq) for s in stored] == [
        (1200.0, 4000.0),
        (None, None),
        (None, None),
        (500.0, 8000.0),
    ]
    # read back as the list and the workspace give it
    listed = client_for(annotator).get(f"/api/clips/{clip.pk}/annotations/").json()
    assert listed[0]["segments"][0]["low_freq"] == 1200.0
    ws = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()
    assert [(s["low_freq"], s["high_freq"]) for s in ws["annotation"]["segments"]][:2] == [
        (1200.0, 4000.0),
        (None, None),
    ]


@pytest.mark.parametrize(
    ("band_", "said"),
    [
        ({"low_freq": 1000}, "needs both low_freq and high_freq"),
        ({"high_freq": 1000}, "needs both low_freq and high_freq"),
        ({"low_freq": 3000, "high_freq": 1000}, "high_freq 1000 Hz must be above low_freq 3000"),
        ({"low_freq": 2000, "high_freq": 2000}, "must be above"),
        ({"low_freq": -5, "high_freq": 1000}, "below 0 Hz"),
        ({"low_freq": 100, "high_freq": 12000}, "above the clip's highest frequency (8000 Hz"),
        ({"low_freq": 7995, "high_freq": 8000.5}, "narrower than 10 Hz"),
        ({"low_freq": 1000, "high_freq": 1000.1}, "a band of 1000-1000.1 Hz is narrower"),
        ({"low_freq": "low", "high_freq": 1000}, "A valid number is required"),
        ({"low_freq": True, "high_freq": 1000}, "A valid number is required"),
        ({"low_freq": 1000.01, "high_freq": 1000.04}, "above low_freq 1000.01 Hz (in steps of"),
        ({"low_freq": 10000.01, "high_freq": 10000.04}, "above low_freq 10000.01 Hz"),
    ],
)
def test_a_bad_band_is_refused_naming_the_segment_and_nothing_is_lost(
    client_for, annotator, project, labels, band_, said
):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    first = submit(client, clip, [seg(low_freq=100, high_freq=900)])
    assert first.status_code == 201
    response = submit(client, clip, [seg(), seg(3.0, 4.0, **band_)], expected_version=1)
    assert response.status_code == 400, response.json()
    assert said in str(response.json())
    if "valid number" not in said:  # the service's own words name the segment
        assert "segment 2" in response.json()["detail"]
    kept = Segment.objects.get()
    assert (kept.low_freq, kept.high_freq) == (100.0, 900.0)


def test_a_band_makes_another_segment_and_changing_it_is_an_edit(
    client_for, annotator, reviewer, project, labels
):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    wren = seg(labels=("birds/wren",))
    response = submit(
        client,
        clip,
        [wren, {**wren, "low_freq": 2000, "high_freq": 6000}, wren],  # the same twice: once
    )
    assert response.status_code == 201, response.json()
    out = response.json()["annotation"]["segments"]
    assert sorted((s["low_freq"] or 0, s["high_freq"] or 0) for s in out) == [
        (0, 0),
        (2000.0, 6000.0),
    ]
    banded = [{**wren, "low_freq": 2000, "high_freq": 6000}]
    again = submit(client, clip, banded, expected_version=1)
    assert again.status_code in (200, 201)
    assert again.json()["annotation"]["version"] == 2  # one segment gone
    moved = submit(client, clip, [{**banded[0], "high_freq": 7000}], expected_version=2)
    assert moved.json()["annotation"]["version"] == 3  # the band moved: an edit
    same = submit(client, clip, [{**banded[0], "high_freq": 7000}], expected_version=3)
    assert same.json()["annotation"]["version"] == 3  # nothing changed: no new version
    # the history says which band went and which came (as the reviewer reads it)
    page = Client()
    page.force_login(reviewer)
    history = page.get(f"/clips/{clip.pk}/history/")
    assert history.status_code == 200
    text = history.content.decode()
    assert "−1.0–2.0 2–6 kHz" in text and "+1.0–2.0 2–7 kHz" in text


def test_a_correction_keeps_the_band_and_can_change_it(
    client_for, annotator, reviewer, project, labels
):
    (clip,) = ready_clips(project, 1)
    made = submit(client_for(annotator), clip, [seg(low_freq=2000, high_freq=6000)])
    annotation_id = made.json()["annotation"]["id"]
    correction = {
        "action": "correct",
        "expected_version": 1,
        "segments": [seg(labels=("noise",), low_freq=2000, high_freq=6000)],
    }
    response = client_for(reviewer).post(
        f"/api/annotations/{annotation_id}/review/", correction, format="json"
    )
    assert response.status_code == 200, response.json()
    (kept,) = Segment.objects.all()
    assert (kept.low_freq, kept.high_freq) == (2000.0, 6000.0)
    review = Client()
    review.force_login(reviewer)
    page = review.get(f"/clips/{clip.pk}/review/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "2–6 kHz" in text  # the annotation's segment, and the history's chips
    assert text.count("2–6 kHz") >= 2


def test_the_band_filter_reads_a_segment_or_a_revision():
    assert band({"low_freq": 300, "high_freq": 1500}) == "0.3–1.5 kHz"
    assert band({"low_freq": 200.4, "high_freq": 800}) == "200–800 Hz"
    assert band({"low_freq": 1200.0, "high_freq": 4000.0}) == "1.2–4 kHz"
    assert band({"start": 1}) == ""
    assert band(Segment(start=0, end=1, low_freq=12345.0, high_freq=20000.0)) == "12.35–20 kHz"
    assert band(Segment(start=0, end=1)) == ""


def _export(project, fmt) -> list[dict]:
    out = io.StringIO()
    export_write(out, project=project, format=fmt)
    delimiter = "\t" if fmt == "raven" else ","
    return list(csv.DictReader(io.StringIO(out.getvalue()), delimiter=delimiter))


def test_csv_and_raven_exports_write_the_band(client_for, annotator, project, labels):
    (clip,) = ready_clips(project, 1)
    response = submit(
        client_for(annotator),
        clip,
        [seg(low_freq=2000, high_freq=6000), seg(3.0, 4.0, labels=("noise",))],
        clip_labels=["noise"],
    )
    assert response.status_code == 201, response.json()
    Annotation.objects.update(status="submitted")
    rows = _export(project, "csv")
    by_kind = {(r["kind"], r["start"]): r for r in rows}
    assert (by_kind[("segment", "1.0")]["low_freq"], by_kind[("segment", "1.0")]["high_freq"]) == (
        "2000.0",
        "6000.0",
    )
    assert by_kind[("segment", "3.0")]["low_freq"] == ""
    assert by_kind[("clip", "")]["high_freq"] == ""
    raven = _export(project, "raven")
    boxes = {r["Begin Time (s)"]: (r["Low Freq (Hz)"], r["High Freq (Hz)"]) for r in raven}
    assert boxes["1"] == ("2000", "6000")
    assert boxes["3"] == ("0", "8000")  # every frequency: the whole height


def test_a_csv_manifest_gives_segments_their_band(project, labels, wav_factory, tmp_path):
    audio = wav_factory("a.wav", seconds=3.0, sr=8000)
    good = wav_factory("b.wav", seconds=3.0, sr=8000, freq=300)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "audio,labels,start,end,low_freq,high_freq\n"
        f"{good.name},birds/wren,0.5,1.0,1000,3000\n"
        f"{good.name},noise,1.5,2.0,,\n"
        f"{audio.name},noise,0.5,1.0,100,6000\n"  # above this 8 kHz clip's 4,000 Hz
    )
    job = import_run(
        project=project,
        items=list(items_from_paths([manifest])),
        job=import_job_create(project=project, source="cli"),
    )
    assert job.imported == 1 and job.rejected == 1, job.report
    refused = next(r for r in job.report if r["name"] == "a.wav")
    assert (
        "row 4: high_freq 6000 Hz is above the clip's highest frequency (4000 Hz"
        in (refused["error"])
    )
    clip = Clip.objects.get(original_name="b.wav")
    stored = Segment.objects.filter(annotation__clip=clip).order_by("start")
    assert [(s.low_freq, s.high_freq) for s in stored] == [(1000.0, 3000.0), (None, None)]


def test_a_band_on_a_clip_label_row_of_a_manifest_is_refused(
    project, labels, wav_factory, tmp_path
):
    audio = wav_factory("a.wav", seconds=1.0)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"audio,labels,low_freq,high_freq\n{audio.name},noise,100,900\n")
    (item,) = items_from_paths([manifest])
    assert "low_freq and high_freq bound a segment" in item.error
