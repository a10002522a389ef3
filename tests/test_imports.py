"""Getting audio in through the import service: every rule, every bad input."""

from __future__ import annotations

import io
import json
import os
import signal
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from labelapp.models import Annotation, Clip, ImportJob
from labelapp.services import imports
from labelapp.services.imports import (
    ImportItem,
    clip_import,
    import_job_create,
    import_job_record,
    import_jobs_fail_stale,
    import_run,
    original_name_error,
)
from labelapp.services.manifests import items_from_paths
from labelapp.tasks import imports_sweep
from ml_backend.models import PrelabelRun

pytestmark = pytest.mark.django_db


def _import(project, path, name=None, **kw):
    name = path.name if name is None else name
    return clip_import(project=project, item=ImportItem(name=name, path=path, **kw))


def test_it_imports_a_wav_with_its_metadata_and_stores_the_original_untouched(
    project, wav_factory, django_capture_on_commit_callbacks
):
    path = wav_factory(seconds=1.5, sr=22050, channels=2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = _import(project, path)
    # processing is enqueued once the row has committed; the ready clip, in a project with
    # no model, then asks for a cold-start ranking
    assert len(callbacks) == 2
    assert PrelabelRun.objects.get(project=project, model_version=None).status == "succeeded"
    assert outcome.status == "imported", outcome.error
    clip = Clip.objects.get(pk=outcome.clip_id)
    assert (clip.sample_rate, clip.channels, clip.format) == (22050, 2, "WAV")
    assert clip.duration == pytest.approx(1.5, abs=1e-3)
    assert clip.original_name == path.name
    with default_storage.open(clip.file.name, "rb") as fh:
        assert fh.read() == path.read_bytes()
    # the enqueued processing ran (eagerly in unit tests) and produced peaks
    clip.refresh_from_db()
    assert clip.status == "ready" and clip.peaks_file


@pytest.mark.parametrize(
    "fmt,subtype,ext",
    [("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")],
)
def test_it_imports_flac_ogg_and_mp3(project, tmp_path, fmt, subtype, ext):
    sr = 44100
    t = np.arange(sr * 2) / sr
    path = tmp_path / f"tone.{ext}"
    sf.write(path, 0.3 * np.sin(2 * np.pi * 330 * t), sr, format=fmt, subtype=subtype)
    outcome = _import(project, path)
    assert outcome.status == "imported", outcome.error
    clip = Clip.objects.get(pk=outcome.clip_id)
    assert clip.format == fmt
    assert clip.duration == pytest.approx(2.0, abs=0.06)
    assert clip.file.name.endswith(f".{ext}")


def test_a_duplicate_is_reported_not_failed(project, wav_factory):
    path = wav_factory()
    first = _import(project, path)
    again = _import(project, path, name="copy.wav")
    assert again.status == "duplicate"
    assert again.clip_id == first.clip_id
    assert Clip.objects.filter(project=project).count() == 1


def test_the_same_file_may_live_in_two_projects(project, other_project, wav_factory):
    path = wav_factory()
    assert _import(project, path).status == "imported"
    assert _import(other_project, path).status == "imported"


BAD_FILES = {
    "empty.wav": (b"", ("file is empty",)),
    # random bytes may look like an MP3 frame sync to a decoder: either answer is clear
    "noise.wav": (
        bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
        ("not an audio file", "corrupt"),
    ),
    "text.mp3": (b"<html><script>alert(1)</script></html>" * 50, ("not an audio file",)),
    # dropped on the project page beside the audio: "not an audio file" said nothing of where
    # a task list or a manifest goes
    "project-1-at-2026.json": (
        b'\xef\xbb\xbf [{"id": 1, "data": {"audio": "/data/upload/1/a.wav"}}]',
        ("a label studio task list, not audio: the server's `python manage.py import_audio",),
    ),
    # the app's other files: a label tree goes to the label tree page
    "ontology.json": (
        b'[{"id": "/m/1", "name": "Music", "child_ids": []}]',
        ("a label tree file (earmark json or audioset), not audio: import it on the",),
    ),
    "labels.csv": (
        b"clip_id,original_name,file,kind,start,end,channel,label\n1,a.wav,x,clip,,,,dog\n",
        ("an earmark csv export, not audio: it is not read back",),
    ),
    # a labels file dropped among the audio: pointed to where it goes
    "dawn.Table.1.selections.txt": (
        b"Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tSpecies\n1\tS\t1\t0\t1\tx\n",
        ("a raven selection table, not audio: for clips already imported, choose it under",),
    ),
    # a character cut where the reading stops: still text (it was "not an audio file")
    "cut.json": (
        b'[{"data": {"audio": "a.wav", "note": "' + "鳥".encode() * 1500 + b'"}}]',
        ("a label studio task list, not audio",),
    ),
    "manifest.csv": (
        b'"clip",' + b"x" * 20 + b',"audio",labels\n1,a,a.wav,dog\n',
        (
            'a csv manifest, not audio: for clips already imported, choose it under "labels for '
            'clips already here"',
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_are_rejected_with_a_reason_and_leave_nothing_behind(project, tmp_path, name):
    content, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    before = _stored_files()
    outcome = _import(project, path)
    assert outcome.status == "rejected"
    assert any(r in outcome.error.lower() for r in reason), outcome.error
    assert not Clip.objects.exists()
    assert _stored_files() == before


def test_a_truncated_wav_is_rejected(project, wav_factory):
    path = wav_factory(seconds=2.0)
    data = path.read_bytes()
    path.write_bytes(data[:44])  # header only: claims 2 s of data, has none
    outcome = _import(project, path)
    assert outcome.status == "rejected"
    assert not Clip.objects.exists()


def test_a_file_over_the_size_limit_is_rejected(project, wav_factory, settings):
    settings.EARMARK_MAX_UPLOAD_BYTES = 1000
    outcome = _import(project, wav_factory(seconds=1.0))
    assert outcome.status == "rejected"
    assert "larger than the limit" in outcome.error


def test_a_file_over_the_duration_limit_is_rejected(project, wav_factory, settings):
    settings.EARMARK_MAX_DURATION_S = 0.5
    outcome = _import(project, wav_factory(seconds=1.0))
    assert outcome.status == "rejected"
    assert "limit" in outcome.error


@pytest.mark.parametrize(
    "name,reason",
    [
        ("..", "'..'"),
        ("a..wav", "'..'"),
        ("../../etc/passwd.wav", "slashes"),
        ("a/b.wav", "slashes"),
        ("a\\b.wav", "slashes"),
        ("caf\udce9.wav", "UTF-8"),
        ("bad\ufffd.wav", "UTF-8"),
        ("", "empty"),
        ("bell\x07.wav", "control"),
        ("\u202egnp.wav", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),  # shown as "vaw.png"
        ("zero\u200bwidth.wav", "U+200B"),
    ],
)
def test_bad_names_are_rejected(project, wav_factory, name, reason):
    assert reason in original_name_error(name)
    outcome = _import(project, wav_factory(), name=name)
    assert outcome.status == "rejected"
    assert reason in outcome.error
    assert not Clip.objects.exists()


def test_ordinary_names_pass():
    for name in [
        "dog bark.wav",
        "été.flac",
        "take.2.wav",
        "x.y.mp3",
        "It's (live).ogg",
        "می\u200cخواهم.wav",
    ]:  # a joiner Persian needs stays
        assert original_name_error(name) == ""


def test_an_unwritable_media_store_is_a_clear_error_without_orphan_rows(
    project, wav_factory, settings, tmp_path
):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the media directory should be")
    settings.MEDIA_ROOT = str(blocked)
    outcome = _import(project, wav_factory())
    assert outcome.status == "rejected"
    assert "could not read or store the file" in outcome.error
    assert not Clip.objects.exists()


def test_a_batch_goes_on_after_a_bad_file_and_reports_each(project, wav_factory, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    items = [
        ImportItem(name=p.name, path=p) for p in [wav_factory(), bad, wav_factory(), wav_factory()]
    ]
    job = import_job_create(project=project, source="cli", total=len(items))
    job = import_run(project=project, items=items, job=job)
    assert (job.status, job.imported, job.rejected, job.processed) == ("done", 3, 1, 4)
    assert [r["status"] for r in job.report] == ["imported", "rejected", "imported", "imported"]
    assert job.report[1]["name"] == "bad.wav" and job.report[1]["error"]
    assert ImportJob.objects.get(pk=job.pk).progress == 1.0


def test_csv_manifest_gives_clip_labels_and_segments(project, wav_factory, tmp_path):
    a = wav_factory("a.wav", seconds=3.0)
    b = wav_factory("b.wav", seconds=3.0)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "audio,labels,start,end,speaker\n"
        f"{a.name},animal/bird;animal/bird/corvid,,,ann\n"
        f"{a.name},animal/dog,0.5,1.25,ann\n"
        f"{b},speech,,,bob\n"
    )
    items = list(items_from_paths([manifest]))
    job = import_run(
        project=project, items=items, job=import_job_create(project=project, source="cli")
    )
    assert job.imported == 2 and job.rejected == 0, job.report
    clip_a = Clip.objects.get(original_name="a.wav")
    assert clip_a.metadata["speaker"] == "ann"
    ann = Annotation.objects.get(clip=clip_a)
    assert ann.source == "imported" and ann.annotator.username == "earmark-system"
    # a child implies its ancestors: "animal/bird" is stored once, inside the child
    assert [cl.label.path for cl in ann.clip_labels.all()] == ["animal/bird/corvid"]
    (seg,) = ann.segments.all()
    assert (seg.start, seg.end) == (0.5, 1.25)
    assert [sl.label.path for sl in seg.segment_labels.all()] == ["animal/dog"]
    assert Clip.objects.get(original_name="b.wav").annotation_count == 1


def test_an_exported_manifest_reads_back_its_names_and_its_quoted_labels(
    project, wav_factory, tmp_path
):
    """An export quotes a cell a spreadsheet would run ("=eq" is written "'=eq"): read back
    as written it made the label "'=eq". Its original_name is the clip's name (the stored
    file's is a hash) and its clip_id, another project's, is no metadata."""
    from labelapp.exports.common import spreadsheet_safe

    stored = wav_factory("3f9a0c.wav", seconds=1.0)
    manifest = tmp_path / "manifest.csv"
    cell = spreadsheet_safe("=eq;noise")
    assert cell == "'=eq;noise"
    manifest.write_text(
        f"clip_id,audio,original_name,labels,split\n41,{stored.name},dawn chorus.wav,{cell},train\n"
    )
    items = list(items_from_paths([manifest]))
    job = import_run(
        project=project,
        items=items,
        job=import_job_create(project=project, source="cli"),
        create_labels=True,
    )
    assert job.imported == 1, job.report
    clip = Clip.objects.get(project=project)
    assert clip.original_name == "dawn chorus.wav"
    from labelapp.services.manifests import items_from_csv

    other = wav_factory("4e1b.wav", seconds=1.0, freq=500)
    manifest.write_text(f"audio,original_name\n{other.name},/\n")
    (item,) = items_from_csv(manifest)
    assert item.name == "4e1b.wav" and not item.error  # "/" names nothing: the file's name
    assert clip.metadata == {"split": "train"}
    ann = Annotation.objects.get(clip=clip)
    assert sorted(cl.label.path for cl in ann.clip_labels.all()) == ["=eq", "noise"]


def test_csv_rows_with_bad_segments_reject_that_file_only(project, wav_factory, tmp_path):
    a = wav_factory("a.wav", seconds=1.0)
    b = wav_factory("b.wav", seconds=1.0)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"audio,labels,start,end\n{a.name},x,0.5,,\n{b.name},y,0.2,0.4\nmissing.wav,z,,\n"
    )
    job = import_run(
        project=project,
        items=list(items_from_paths([manifest])),
        job=import_job_create(project=project, source="cli"),
    )
    by_name = {r["name"]: r for r in job.report}
    assert by_name["a.wav"]["status"] == "rejected"
    assert "start and end" in by_name["a.wav"]["error"]
    assert by_name["b.wav"]["status"] == "imported"
    assert by_name["missing.wav"]["status"] == "rejected"
    assert "not found" in by_name["missing.wav"]["error"]


def test_a_segment_past_the_end_of_the_clip_is_rejected(project, wav_factory, tmp_path):
    a = wav_factory("a.wav", seconds=1.0)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,labels,start,end\n{a.name},x,0.5,9\n")
    job = import_run(
        project=project,
        items=list(items_from_paths([manifest])),
        job=import_job_create(project=project, source="cli"),
    )
    assert job.report[0]["status"] == "rejected"
    assert "past the clip's end" in job.report[0]["error"]
    assert not Clip.objects.exists()


def test_single_label_projects_refuse_two_clip_labels_on_import(project, wav_factory, tmp_path):
    project.label_mode = "single"
    project.save()
    version_before = project.ontology.version
    a = wav_factory("a.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,labels\n{a.name},cat;dog\n")
    job = import_run(
        project=project,
        items=list(items_from_paths([manifest])),
        job=import_job_create(project=project, source="cli"),
    )
    assert job.report[0]["status"] == "rejected"
    assert "single-label" in job.report[0]["error"]
    # the rejected row leaves nothing behind: not the labels it named either
    from ontology.models import Label

    assert not Label.objects.filter(ontology=project.ontology).exists()
    project.ontology.refresh_from_db()
    assert project.ontology.version == version_before


def test_a_manifest_without_an_audio_column_is_refused(tmp_path):
    from labelapp.errors import DomainError

    manifest = tmp_path / "m.csv"
    manifest.write_text("file,labels\nx.wav,a\n")
    with pytest.raises(DomainError, match="'audio' column"):
        list(items_from_paths([manifest]))


def test_an_earmark_manifest_finds_its_audio_beside_it_by_original_name(
    project, wav_factory, tmp_path
):
    """A project's own manifest export read back: its audio column is the server's stored
    name ("clips/2/0c/0c53…wav"), so every row was "file not found" while the files lay
    beside it under their original names. The CSV export (a row per label) is no manifest:
    said so, and which exports are."""
    from labelapp.errors import DomainError
    from labelapp.services.manifests import items_from_csv

    wav_factory("dawn chorus.wav", seconds=1.0)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "audio,original_name,labels,split\n"
        "clips/2/0c/0c53aa-6a07.wav,dawn chorus.wav,noise,train\n"
        "clips/2/0d/0d11bb-7b18.wav,gone.wav,noise,test\n"
    )
    found, missing = items_from_csv(manifest)
    assert found.path == tmp_path / "dawn chorus.wav" and not found.error
    assert found.name == "dawn chorus.wav" and found.clip_labels == ["noise"]
    assert missing.error.startswith("file not found: ")
    assert missing.error.endswith("(nor gone.wav beside the manifest)")

    # two clips of one name: the one file beside it is neither for sure (both rows' labels
    # went onto it)
    manifest.write_text(
        "audio,original_name,labels\n"
        "clips/2/0c/0c53aa-6a07.wav,dawn chorus.wav,noise\n"
        "clips/2/1e/1e77cc-9f01.wav,dawn chorus.wav,birds\n"
    )
    (both,) = items_from_csv(manifest)
    assert "are two recordings both named 'dawn chorus.wav'" in both.error

    export = tmp_path / "labels.csv"
    export.write_text(
        "clip_id,original_name,file,kind,start,end,channel,label\n1,a.wav,x,clip,,,,dog\n"
    )
    with pytest.raises(DomainError, match="Earmark's CSV export .* is not read back"):
        items_from_csv(export)


def _import_tasks(project, tmp_path, tasks: list):
    """`tasks` written as a Label Studio tasks.json and imported from it, as the CLI does."""
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    return import_run(
        project=project,
        items=list(items_from_paths([path])),
        job=import_job_create(project=project, source="cli"),
    )


def test_a_rejected_task_of_an_earmark_export_is_named_by_its_clip(project, tmp_path):
    """Five rejected tasks of a project's own Label Studio export all read "audio" (the name
    came from "/api/clips/301/audio")."""
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="noise")
    result = [{"from_name": "kind", "type": "choices", "value": {"choices": ["gone/label"]}}]
    tasks = [
        {
            "data": {
                "audio": f"https://old.example.org/api/clips/{n}/audio",
                "original_name": name,
            },
            "annotations": [{"result": result}],
        }
        for n, name in ((301, "dawn.wav"), (302, "dusk.wav"))
    ]
    (tmp_path / "dawn.wav").write_bytes(b"")  # beside it, though its labels are unknown here
    job = _import_tasks(project, tmp_path, tasks)
    assert sorted(r["name"] for r in job.report) == ["dawn.wav", "dusk.wav"], job.report


def test_a_members_label_studio_annotation_keeps_its_lead_time(
    project, annotator, wav_factory, tmp_path
):
    """`lead_time` 12.5 came back 0.0: throughput figures lost the migrated work's time."""
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="noise")
    annotator.email = "ann@example.org"
    annotator.save()
    a = wav_factory("a.wav", seconds=1.0)
    result = [{"from_name": "kind", "type": "choices", "value": {"choices": ["noise"]}}]
    made = {"completed_by": {"email": "ann@example.org"}, "lead_time": 12.5, "result": result}
    job = _import_tasks(
        project, tmp_path, [{"data": {"audio": f"file://{a}"}, "annotations": [made]}]
    )
    assert job.imported == 1, job.report
    assert Annotation.objects.get(annotator=annotator).lead_time == 12.5
    # two by one member: the last is kept, and said (the first went without a word)
    b = wav_factory("b.wav", seconds=1.0, freq=700)
    later = {**made, "lead_time": 9}
    job = _import_tasks(
        project, tmp_path, [{"data": {"audio": f"file://{b}"}, "annotations": [made, later]}]
    )
    (row,) = job.report
    assert row["status"] == "imported"
    assert f"two annotations or more by {annotator.username}: the last one is kept" in row["error"]


def test_label_studio_tasks_bring_annotations_and_predictions(
    project, wav_factory, tmp_path, lead, client_for
):
    a = wav_factory("a.wav", seconds=4.0)
    b = wav_factory("b.wav", seconds=4.0)
    tasks = [
        {
            "id": 7,
            "data": {"audio": f"/data/local-files/?d={a.name}", "site": "north"},
            "annotations": [
                {
                    "result": [
                        {
                            "type": "labels",
                            "value": {"start": 1.0, "end": 2.5, "channel": 0, "labels": ["Bird"]},
                        },
                        {"type": "choices", "value": {"choices": ["Outdoor"]}},
                        {"type": "taxonomy", "value": {"taxonomy": [["Animal", "Dog"]]}},
                    ]
                }
            ],
            "predictions": [
                {
                    "model_version": "birdnet-2.4",
                    "score": 0.8,
                    "result": [
                        {
                            "type": "labels",
                            "score": 0.7,
                            "value": {"start": 0.5, "end": 1.0, "labels": ["Bird"]},
                        },
                    ],
                }
            ],
        },
        {"data": {"audio": f"file://{b}"}},
        {"data": {"audio": "https://example.org/x.wav"}},
        {"data": {}},
    ]
    job = _import_tasks(project, tmp_path, tasks)
    statuses = [r["status"] for r in job.report]
    assert statuses == ["imported", "imported", "rejected", "rejected"]
    assert "not fetched" in job.report[2]["error"]
    clip = Clip.objects.get(original_name="a.wav")
    assert clip.metadata == {"site": "north", "label_studio_id": 7}
    ann = clip.annotations.get()
    assert sorted(cl.label.path for cl in ann.clip_labels.all()) == ["Animal/Dog", "Outdoor"]
    (seg,) = ann.segments.all()
    assert (seg.start, seg.end, seg.channel) == (1.0, 2.5, 0)
    (pred,) = clip.predictions.all()
    assert pred.model_version.name == "birdnet-2.4"
    assert pred.model_version.status == "external"
    assert pred.segments[0]["score"] == 0.7
    # The model page lists the source, apart from the project's own versions.
    overview = client_for(lead).get(f"/api/projects/{project.pk}/model/").json()
    assert [(v["name"], v["clips"]) for v in overview["external_versions"]] == [("birdnet-2.4", 1)]
    assert overview["versions"] == [] and overview["active"] is None


@pytest.mark.parametrize("score", ["high", 1.5, -0.1, True])
def test_a_prediction_score_that_is_no_probability_rejects_its_task_saying_so(
    project, wav_factory, tmp_path, score
):
    """A prediction's "score": "high" was stored as 1.0, the score of a prediction given
    none, and the model's confidence in the clip read as certainty."""
    a = wav_factory("a.wav", seconds=1.0)
    b = wav_factory("b.wav", seconds=1.0, freq=880)
    result = [{"type": "choices", "value": {"choices": ["Bird"]}}]
    region = {"type": "labels", "score": score, "value": {"start": 0, "end": 1, "labels": ["Bird"]}}
    tasks = [
        {"data": {"audio": f"file://{a}"}, "predictions": [{"score": score, "result": result}]},
        {"data": {"audio": f"file://{b}"}, "predictions": [{"result": [region]}]},
    ]
    job = _import_tasks(project, tmp_path, tasks)
    assert [r["status"] for r in job.report] == ["rejected", "rejected"], job.report
    assert "a prediction's score must be" in job.report[0]["error"]
    assert repr(score) in job.report[0]["error"]


def test_a_malformed_label_studio_file_is_refused(tmp_path):
    from labelapp.errors import DomainError

    path = tmp_path / "tasks.json"
    path.write_text("{not json")
    with pytest.raises(DomainError, match="not a JSON file"):
        list(items_from_paths([path]))


def test_a_label_studio_task_with_a_result_of_the_wrong_shape_is_rejected_with_the_reason(
    project, wav_factory, tmp_path
):
    """A result whose `value` is a string crashed `import_audio` with a traceback
    (AttributeError); the task is rejected, saying why, and the others are imported."""
    a = wav_factory("a.wav", seconds=1.0)
    b = wav_factory("b.wav", seconds=1.0)
    bad = {"result": [{"type": "choices", "value": "Outdoor"}]}
    c = wav_factory("c.wav", seconds=1.0)
    tasks = [
        {"data": {"audio": f"file://{a}"}, "annotations": [bad]},
        {"data": {"audio": f"file://{b}"}},
        {"data": {"audio": f"file://{c}"}, "annotations": {"result": []}},  # not a list
    ]
    job = _import_tasks(project, tmp_path, tasks)
    assert [r["status"] for r in job.report] == ["rejected", "imported", "rejected"]
    assert "'value' is not an object" in job.report[0]["error"]
    assert "'annotations' must be a list of objects" in job.report[2]["error"]


def test_folders_are_imported_recursively_skipping_other_files(project, wav_factory, tmp_path):
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    wav_factory().rename(root / "one.wav")
    wav_factory().rename(root / "a" / "b" / "two.wav")
    (root / "a" / "notes.txt").write_text("not audio")
    # formats the decoder reads were passed over in a folder (and imported by name)
    for name in ("voice.opus", "take.AIFF", "ring.caf", "long.w64", "old.au"):
        (root / "a" / name).write_bytes(b"")
    (root / "a" / "phone.m4a").write_bytes(b"")
    (root / "a" / "README").write_text("x")
    skipped = Counter()
    items = list(items_from_paths([root], skipped))
    assert sorted(i.name for i in items) == sorted(
        ["one.wav", "two.wav", "voice.opus", "take.AIFF", "ring.caf", "long.w64", "old.au"]
    )
    assert {i.metadata["source_path"] for i in items} >= {"one.wav", "a/b/two.wav"}
    assert skipped == {".txt": 1, ".m4a": 1, "(no extension)": 1}


def test_a_folder_import_says_what_it_passed_over(project, tmp_path):
    from django.core.management import CommandError, call_command

    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.m4a").write_bytes(b"")
    (tmp_path / "only" / "b.m4a").write_bytes(b"")
    with pytest.raises(
        CommandError,
        match=r"no audio files found in .*; 2 file\(s\) passed over, not audio .*: \.m4a ×2",
    ):
        call_command("import_audio", str(project.pk), str(tmp_path / "only"))
    # a manifest in a folder is not read, though import_audio reads one by its path: said
    (tmp_path / "only" / "tasks.json").write_text("[]")
    with pytest.raises(
        CommandError, match=r"\.json ×1, .* \(a CSV manifest, a Label Studio task list or a Raven"
    ):
        call_command("import_audio", str(project.pk), str(tmp_path / "only"))


def test_an_upload_stream_is_staged_and_imported(project, wav_factory):
    data = wav_factory().read_bytes()
    outcome = clip_import(project=project, item=ImportItem(name="up.wav", fileobj=io.BytesIO(data)))
    assert outcome.status == "imported"


def _stored_files():
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_digit_label_names_are_names_not_ids(project, wav_factory, tmp_path):
    """FSDD's labels are digits: "7" in a manifest is the label named 7, never label id 7."""
    a = wav_factory("a.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,labels\n{a.name},digit/7\n{a.name},1\n")
    job = import_run(
        project=project,
        items=list(items_from_paths([manifest])),
        job=import_job_create(project=project, source="cli"),
    )
    assert job.report[0]["status"] == "imported", job.report
    ann = Annotation.objects.get(clip__original_name="a.wav")
    assert sorted(cl.label.path for cl in ann.clip_labels.all()) == ["1", "digit/7"]


def test_an_interrupted_import_says_how_far_it_got_and_keeps_what_it_imported(project, wav_factory):
    files = [wav_factory() for _ in range(5)]

    def items():
        for n, p in enumerate(files):
            if n == 3:
                raise KeyboardInterrupt  # Ctrl-C while the fourth file is read
            yield ImportItem(name=p.name, path=p)

    job = import_job_create(project=project, source="cli", total=5)
    with pytest.raises(KeyboardInterrupt):
        import_run(project=project, items=items(), job=job)
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert job.error.startswith("interrupted after 3 of 5 files")
    assert Clip.objects.filter(project=project).count() == 3
    # Importing the same files again finishes the job's work: the first three are duplicates.
    again = import_job_create(project=project, source="cli", total=5)
    again = import_run(
        project=project, items=[ImportItem(name=p.name, path=p) for p in files], job=again
    )
    assert (again.status, again.imported, again.duplicates) == ("done", 2, 3)


def test_sigterm_stops_the_import_command_with_the_job_marked_failed(
    project, wav_factory, monkeypatch
):
    files = [wav_factory() for _ in range(4)]
    real = imports.clip_import
    calls = {"n": 0}

    def clip_import_then_terminated(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # `kill`, or a container stopping
        return real(**kwargs)

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(imports, "clip_import", clip_import_then_terminated)
    with pytest.raises(CommandError, match="interrupted after 2 of 4 files"):
        call_command("import_audio", str(project.pk), *map(str, files), "--quiet")
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is gone again
    job = ImportJob.objects.get(project=project)
    assert (job.status, job.processed) == ("failed", 2)


def test_a_running_import_without_progress_for_half_an_hour_is_marked_failed(project):
    lost = import_job_create(project=project, source="cli", total=10)
    alive = import_job_create(project=project, source="cli", total=10)
    done = import_job_create(project=project, source="cli", total=10)
    # A browser upload's job spans a request per file: one slow file is not a lost process.
    upload = import_job_create(project=project, source="upload", total=10)
    old = timezone.now() - timedelta(minutes=31)
    ImportJob.objects.filter(pk__in=[lost.pk, upload.pk]).update(updated_at=old)
    ImportJob.objects.filter(pk=done.pk).update(updated_at=old, status="done")
    assert import_jobs_fail_stale(older_than=timedelta(hours=1)) == 0
    imports_sweep()  # the beat task: 30 minutes
    got = {j.pk: (j.status, j.error) for j in ImportJob.objects.all()}
    assert got[lost.pk][0] == "failed" and "no progress for 30 minutes" in got[lost.pk][1]
    assert got[alive.pk] == ("running", "") and got[done.pk] == ("done", "")
    assert got[upload.pk] == ("running", "")


def test_a_browser_upload_without_a_file_for_a_day_is_marked_abandoned(project):
    closed = import_job_create(project=project, source="upload", total=10)
    slow = import_job_create(project=project, source="upload", total=10)
    ImportJob.objects.filter(pk=closed.pk).update(
        processed=4, imported=4, updated_at=timezone.now() - timedelta(hours=25)
    )
    ImportJob.objects.filter(pk=slow.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    assert import_jobs_fail_stale() == 1
    closed.refresh_from_db()
    slow.refresh_from_db()
    assert closed.status == "failed" and closed.finished_at is not None
    assert "4 of 10 files arrived" in closed.error and "24 hours" in closed.error
    assert (closed.imported, slow.status) == (4, "running")


def test_a_quiet_browser_upload_says_its_files_may_not_come(project, lead):
    """A job whose page was closed mid-upload showed "running" at 85% for a day."""
    from django.test import Client

    quiet = import_job_create(project=project, source="upload", total=10)
    busy = import_job_create(project=project, source="upload", total=5)
    ImportJob.objects.filter(pk=quiet.pk).update(
        processed=8, updated_at=timezone.now() - timedelta(minutes=25)
    )
    ImportJob.objects.filter(pk=busy.pk).update(processed=1)
    client = Client()
    client.force_login(lead)
    text = client.get(f"/projects/{project.pk}/").content.decode()
    assert text.count('data-testid="import-job-quiet"') == 1
    assert "no file for 25 minutes" in text and "its other 2 files will not come" in text


def test_progress_writes_move_the_jobs_clock(project, wav_factory):
    job = import_job_create(project=project, source="cli", total=1)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    job.refresh_from_db()
    p = wav_factory()
    import_job_record(job, _import(project, p), save=True)
    job.refresh_from_db()
    assert timezone.now() - job.updated_at < timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)  # the thread has its own connection
def test_the_import_command_runs_from_a_thread_too(project, wav_factory):
    import threading

    files = [wav_factory() for _ in range(2)]
    before = signal.getsignal(signal.SIGTERM)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call_command("import_audio", str(project.pk), *map(str, files), "--quiet")
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert errors == []
    assert ImportJob.objects.get(project=project).status == "done"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_manifest_imported_again_leaves_reviewed_and_unchanged_annotations_alone(
    project, reviewer, wav_factory, tmp_path
):
    """Imported again, a manifest set each clip's annotation back to submitted (a reviewer's
    accept, reject or correction undone, a correction mixed with the old label) and wrote an
    empty revision on every clip it had not changed."""
    from labelapp.services.review import annotation_review

    a, b = wav_factory("a.wav", freq=300), wav_factory("b.wav", freq=600)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"audio,labels\n{a},animal/bird\n{b},animal/dog\n")

    def run():
        job = import_job_create(project=project, source="cli")
        return import_run(project=project, items=list(items_from_paths([manifest])), job=job)

    run()
    first, second = (Annotation.objects.get(clip__original_name=n) for n in ("a.wav", "b.wav"))
    annotation_review(
        annotation=first, reviewer=reviewer, action="correct", expected_version=1,
        clip_labels=["animal/dog"],
    )  # fmt: skip
    again = run()
    assert [r["status"] for r in again.report] == ["duplicate", "duplicate"]
    assert "its reviewed annotation is left as the reviewer made it" in again.report[0]["error"]
    first.refresh_from_db()
    assert first.status == "accepted"
    assert [cl.label.path for cl in first.clip_labels.all()] == ["animal/dog"]
    second_before = second.version
    second.refresh_from_db()
    assert second.version == second_before and second.revisions.count() == 1


def test_a_label_studio_file_with_another_question_imports_its_labels(
    project, wav_factory, tmp_path
):
    """A "quality" Choices beside the labels rejected the task ("unknown label 'good'"),
    where the webhook leaves such a control out; a task naming no label of the project at
    all is still refused, naming what it named. With --create-labels every value counts."""
    from ontology.models import Label
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="bird/crow")
    a = wav_factory("a.wav", seconds=1.0)
    b = wav_factory("b.wav", seconds=1.0, freq=880)
    quality = {"from_name": "quality", "type": "choices", "value": {"choices": ["good"]}}
    kind = {"from_name": "kind", "type": "choices", "value": {"choices": ["crow"]}}
    tasks = [
        {"data": {"audio": f"file://{a}"}, "annotations": [{"result": [kind, quality]}]},
        {"data": {"audio": f"file://{b}"}, "annotations": [{"result": [quality]}]},
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    out = io.StringIO()
    with pytest.raises(SystemExit):  # a file rejected: exit status 1
        call_command("import_audio", str(project.pk), str(path), stdout=out, stderr=out)
    report = out.getvalue()
    assert "1 imported" in report and "1 rejected" in report, report
    assert "names no label of the project: 'good'" in report
    ann = Annotation.objects.get(clip__original_name="a.wav")
    assert [cl.label.path for cl in ann.clip_labels.all()] == ["bird/crow"]
    assert not Label.objects.filter(ontology=project.ontology, name="good").exists()


def test_a_label_studio_segment_named_by_a_shared_leaf_name_is_refused_not_dropped(
    project, wav_factory, tmp_path
):
    """Thirty machines each with a "cavitation" fault: regions named by that bare name were
    read as another kind of question and left out, so the task imported with no segment and
    nothing said (a control of only them: "names no label of the project")."""
    from ontology.services import label_get_or_create_path

    for path in ("pumps/piston/cavitation", "pumps/gear/cavitation", "pumps/piston"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    a = wav_factory("a.wav", seconds=1.0)
    b = wav_factory("b.wav", seconds=1.0, freq=880)
    machine = {"from_name": "machine", "type": "choices", "value": {"choices": ["piston"]}}
    fault = {
        "from_name": "fault",
        "type": "labels",
        "value": {"start": 0.2, "end": 0.9, "channel": 0, "labels": ["cavitation"]},
    }
    tasks = [
        {"data": {"audio": f"file://{a}"}, "annotations": [{"result": [machine, fault]}]},
        {"data": {"audio": f"file://{b}"}, "annotations": [{"result": [fault]}]},
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("import_audio", str(project.pk), str(path), stdout=out, stderr=out)
    report = out.getvalue()
    assert "0 imported" in report and "2 rejected" in report, report
    assert report.count("label name 'cavitation' is ambiguous") == 2, report
    assert "use its full path" in report
    assert not Annotation.objects.filter(clip__project=project).exists()


def test_label_studio_annotators_who_are_not_members_and_disagree_leave_the_clip_imported(
    project, wav_factory, tmp_path
):
    """A single-label project, two Label Studio annotators (not members here) of one task
    who chose differently: the file was rejected, audio and all, with "choose one clip
    label, not piston, gear pump", as if its lead had chosen both. The majority's label is
    kept; with none, the clip comes without one; the report says which."""
    from ontology.services import label_get_or_create_path

    project.label_mode = "single"
    project.save()
    for path in ("pumps/piston", "pumps/gear"):
        label_get_or_create_path(ontology=project.ontology, path=path)

    def ann(by, choice):
        result = [{"from_name": "m", "type": "choices", "value": {"choices": [choice]}}]
        return {"completed_by": by, "result": result}

    a = wav_factory("two.wav", seconds=1.0)
    b = wav_factory("three.wav", seconds=1.0, freq=880)
    tasks = [
        {"data": {"audio": f"file://{a}"}, "annotations": [ann(1, "piston"), ann(2, "gear")]},
        {
            "data": {"audio": f"file://{b}"},
            "annotations": [ann(1, "gear"), ann(2, "piston"), ann(3, "gear")],
        },
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    out = io.StringIO()
    call_command("import_audio", str(project.pk), str(path), stdout=out, stderr=out)
    report = out.getvalue()
    assert "2 imported" in report and "0 rejected" in report, report
    assert (
        "imported: two.wav: annotators who are not members of this project disagree "
        "(pumps/piston ×1, pumps/gear ×1): the clip is imported without their clip label"
    ) in report
    assert "(pumps/gear ×2, pumps/piston ×1): the majority's pumps/gear is kept" in report
    assert "add them as members (same username or email)" in report
    # one label however it is spelt: two of three agree
    c = wav_factory("four.wav", seconds=1.0, freq=660)
    tasks = [
        {
            "data": {"audio": f"file://{c}"},
            "annotations": [ann(1, "Gear"), ann(2, "pumps/gear"), ann(3, "piston")],
        }
    ]
    path.write_text(json.dumps(tasks))
    out = io.StringIO()
    call_command("import_audio", str(project.pk), str(path), stdout=out, stderr=out)
    assert "(pumps/gear ×2, pumps/piston ×1): the majority's pumps/gear is kept" in out.getvalue()
    assert not Annotation.objects.filter(clip__original_name="two.wav").exists()
    kept = Annotation.objects.get(clip__original_name="three.wav")
    assert [cl.label.path for cl in kept.clip_labels.all()] == ["pumps/gear"]


def test_a_manifest_with_an_unclosed_quote_or_an_infinite_time_says_so(tmp_path, wav_factory):
    """An unbalanced quote read the next rows into one labels cell ("unknown label
    'zero\\n1_george_5.wav,one'"); a start of 1e400 was "not within the clip"."""
    from labelapp.services.manifests import items_from_csv

    a = wav_factory("a.wav", seconds=1.0)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f'audio,labels\n{a.name},"zero\n{a.name},one\n')
    (item,) = items_from_csv(manifest)
    assert "row 2: the 'labels' cell holds a line break" in item.error
    manifest.write_text(f"audio,labels,start,end\n{a.name},one,1e400,1e401\n")
    (item,) = items_from_csv(manifest)
    assert "start '1e400' is not a finite number of seconds" in item.error


@pytest.mark.django_db(transaction=True)
def test_a_file_is_stored_before_its_transaction_opens(project, wav_factory, monkeypatch):
    """On SQLite a transaction holds the database's write lock from its start: an upload to a
    media store that did not answer held it through every timeout, and the worker's writes
    failed "database is locked" (a clip stayed "processing" for 30 minutes)."""
    from django.core.files.storage import default_storage
    from django.db import connection

    from labelapp.services.imports import ImportItem, clip_import

    real = default_storage.save
    seen = []

    def save(name, content, *args, **kwargs):
        seen.append(connection.in_atomic_block)
        return real(name, content, *args, **kwargs)

    monkeypatch.setattr(default_storage, "save", save)
    path = wav_factory(seconds=0.5, sr=8000)
    outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    assert outcome.status == "imported" and seen and not any(seen)  # its peaks saved too


def test_an_mp3_with_a_corrupt_middle_is_rejected_not_a_500(client_for, lead, project, tmp_path):
    """Its middle third overwritten: the upload answered 500 ("negative dimensions are not
    allowed") and its import job stayed running on the project page."""
    import numpy as np
    import soundfile as sf
    from django.core.files.uploadedfile import SimpleUploadedFile

    rate = 16000
    t = np.arange(rate * 60) / rate
    path = tmp_path / "corrupt.mp3"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="MP3")
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = np.random.default_rng(0).integers(0, 256, third, np.uint8).tobytes()
    upload = SimpleUploadedFile("corrupt.mp3", bytes(data), content_type="audio/mpeg")
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/", {"files": [upload]}, format="multipart"
    )
    assert res.status_code in (201, 400), res.content
    if res.status_code == 400:
        assert "truncated or corrupt" in res.json()["files"][0]["error"]
    assert not ImportJob.objects.filter(project=project, status="running").exists()
