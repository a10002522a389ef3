"""Labels for clips already in a project, from a file a lead sends (services.label_imports):
a CSV manifest or a Raven selection table naming the recordings by file name, checked when
it arrives and applied by the worker as an import job."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.exports import export_write
from labelapp.models import Annotation, Clip, ImportJob, LabelsUpload, Segment
from labelapp.services.annotations import annotation_submit
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import
from labelapp.services.label_imports import (
    labels_import_run,
    labels_import_start,
    labels_jobs_fail_stale,
    labels_jobs_resend,
)
from labelapp.services.projects import project_create, system_user
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db

RAVEN_HEAD = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
    "Species\n"
)


def _clip(project, wav_factory, name, **kwargs) -> Clip:
    kwargs.setdefault("seconds", 3.0)
    kwargs.setdefault("sr", 16000)
    outcome = clip_import(project=project, item=ImportItem(name=name, path=wav_factory(**kwargs)))
    assert outcome.status == "imported", outcome
    clip_process(outcome.clip_id)
    return Clip.objects.get(pk=outcome.clip_id)


def _labels(clip, user=None) -> list[str]:
    annotation = Annotation.objects.get(clip=clip, annotator=user or system_user())
    return sorted(cl.label.path for cl in annotation.clip_labels.all())


def _boxes(clip, user=None) -> list[tuple]:
    return sorted(
        (s.start, s.end, s.channel, s.low_freq, s.high_freq)
        + tuple(sorted(sl.label.path for sl in s.segment_labels.all()))
        for s in Segment.objects.filter(
            annotation__clip=clip, annotation__annotator=user or system_user()
        )
    )


def _run(project, lead, name, text, *, capture=None, **kwargs) -> ImportJob:
    """Start the job and run it as the worker would (eager tasks in unit tests)."""
    with capture(execute=True):
        job = labels_import_start(
            project=project,
            user=lead,
            name=name,
            data=text.encode() if isinstance(text, str) else text,
            **kwargs,
        )
    job.refresh_from_db()
    return job


@pytest.fixture
def run(project, lead, django_capture_on_commit_callbacks):
    def go(name, text, **kwargs):
        return _run(project, lead, name, text, capture=django_capture_on_commit_callbacks, **kwargs)

    go.capture = django_capture_on_commit_callbacks
    return go


def test_a_csv_labels_clips_by_file_name_and_reports_the_rest(project, wav_factory, run):
    for path in ("birds/wren", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    a = _clip(project, wav_factory, "a.wav")
    b = _clip(project, wav_factory, "b.wav")
    job = run(
        "labels.csv",
        "audio,labels,start,end,low_freq,high_freq\n"
        "recordings/a.wav,noise,,,,\n"  # a folder in front: its last part names the clip
        "C:\\field\\B.WAV,birds/wren,0.5,1.0,2000,4000\n"  # Windows path, other case
        "gone.wav,noise,,,,\n",
    )
    assert job.status == "done" and job.source == "labels"
    assert (job.total, job.imported, job.rejected) == (3, 2, 1), job.report
    assert _labels(a) == ["noise"]
    assert _boxes(b) == [(0.5, 1.0, None, 2000.0, 4000.0, "birds/wren")]
    missing = next(r for r in job.report if r["status"] == "rejected")
    assert missing["name"] == "gone.wav"
    assert "no clip of this project is named gone.wav" in missing["error"]
    # the file's bytes go once its job has run; what it was imported as stays
    assert LabelsUpload.objects.get(job=job).data in (b"", memoryview(b""))


def test_sent_twice_nothing_is_added_twice_and_a_members_work_is_kept(
    project, wav_factory, run, annotator
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    label_get_or_create_path(ontology=project.ontology, path="rain")
    clip = _clip(project, wav_factory, "a.wav")
    annotation_submit(clip=clip, user=annotator, clip_labels=["rain"])
    text = "audio,labels\na.wav,noise\n"
    first = run("labels.csv", text)
    assert (first.imported, first.duplicates) == (1, 0)
    job = run("labels.csv", text)
    # nothing changed: said so, not "labeled" again
    assert (job.imported, job.duplicates) == (0, 1)
    assert job.report[0]["status"] == "unchanged"
    assert job.report[0]["error"] == "it has these labels already"
    assert _labels(clip) == ["noise"]
    assert Annotation.objects.filter(clip=clip, annotator=system_user()).count() == 1
    assert _labels(clip, annotator) == ["rain"]


def test_a_raven_table_named_after_its_recording_boxes_on_one_channel(project, wav_factory, run):
    """Raven's own table name names the clip; a stereo clip's box on channel 2 stays there;
    BirdNET's 15 kHz top is cut to the clip's Nyquist frequency (8 kHz), read from the clip
    row (no audio is read)."""
    clip = _clip(project, wav_factory, "dawn.wav", channels=2)
    job = run(
        "dawn.Table.1.selections.txt",
        RAVEN_HEAD
        + "1\tSpectrogram 1\t2\t0.5\t1.25\t2000\t15000\tAMRO\n"
        + "2\tSpectrogram 1\t1\t2.0\t2.5\t100\t900\t\n",  # no label yet: passed over
        create_labels=True,
    )
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert _boxes(clip) == [(0.5, 1.25, 1, 2000.0, 8000.0, "AMRO")]


def test_earmarks_raven_export_gives_each_member_their_annotation_back(
    project, wav_factory, run, annotator, lead
):
    """The project's own Raven export, into a copy of the project holding the same audio:
    each annotator's boxes and clip labels on their own annotation."""
    for path in ("birds/wren", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    clip = _clip(project, wav_factory, "mono.wav")
    annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["noise"],
        segments=[
            {
                "start": 0.5,
                "end": 1.0,
                "labels": ["birds/wren"],
                "low_freq": 2500,
                "high_freq": 5000,
            }
        ],
    )
    out = io.StringIO()
    export_write(out, project=project, format="raven")
    clip.delete()
    again = _clip(project, wav_factory, "mono.wav")
    job = run("selections.txt", out.getvalue())
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert _labels(again, annotator) == ["noise"]
    assert _boxes(again, annotator) == [(0.5, 1.0, None, 2500.0, 5000.0, "birds/wren")]


def test_labels_the_tree_lacks_are_named_before_anything_runs(project, wav_factory, lead):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    _clip(project, wav_factory, "a.wav")
    with pytest.raises(DomainError) as caught:
        labels_import_start(
            project=project,
            user=lead,
            name="labels.csv",
            data=b"audio,labels\na.wav,noise;thunder;Hail\n",
        )
    assert caught.value.code == "unknown_labels"
    assert "2 labels the label tree lacks: thunder, Hail" in caught.value.message
    assert not ImportJob.objects.filter(source="labels").exists()


@pytest.mark.parametrize(
    "name, data, said",
    [
        ("labels.csv", b"file,labels\na.wav,noise\n", "needs an 'audio' column"),
        ("notes.txt", b"just some notes\n", "not a CSV manifest"),
        ("tasks.json", b"[]", "imported with its audio, from a shell"),
        ("labels.csv", b"", "is empty"),
        ("labels.csv", b"audio,labels\nnowhere.wav,noise\n", "none of its 1 recording is a clip"),
        (
            "x.Table.1.selections.txt",
            b"Begin Time (s)\tEnd Time (s)\tSpecies\n0\t1\tnoise\n",
            "no clip of this project is named x.<wav",
        ),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_saying_why(
    project, wav_factory, lead, name, data, said
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    _clip(project, wav_factory, "a.wav")
    with pytest.raises(DomainError) as caught:
        labels_import_start(project=project, user=lead, name=name, data=data)
    assert said in caught.value.message


def test_two_clips_of_one_name_are_not_guessed_between(project, wav_factory, run):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    first = _clip(project, wav_factory, "rec.wav")
    second = _clip(project, wav_factory, "rec.wav")
    other = _clip(project, wav_factory, "other.wav")
    job = run("labels.csv", "audio,labels\nrec.wav,noise\nother.wav,noise\n")
    assert (job.imported, job.rejected) == (1, 1), job.report
    said = next(r["error"] for r in job.report if r["status"] == "rejected")
    assert f"2 clips of this project are named rec.wav (#{first.pk}, #{second.pk})" in said
    assert not Annotation.objects.filter(clip__in=[first, second]).exists()
    assert _labels(other) == ["noise"]


def test_a_segment_a_little_past_its_clips_end_is_cut_and_one_far_past_rejects_its_clip(
    project, wav_factory, run
):
    """A detector's last window (18-21 s of a 20 s recording) is cut at the end, said; one
    more than END_SLACK_S past it is another recording's or a wrong offset: its clip is
    refused, naming the row, and the file's other clips go on."""
    label_get_or_create_path(ontology=project.ontology, path="noise")
    short = _clip(project, wav_factory, "short.wav", seconds=1.0)
    far = _clip(project, wav_factory, "far.wav", seconds=1.0)
    fine = _clip(project, wav_factory, "fine.wav")
    job = run(
        "labels.csv",
        "audio,labels,start,end\nshort.wav,noise,0.5,2.5\nfar.wav,noise,0.5,9\n"
        "fine.wav,noise,0.5,2.5\n",
    )
    assert (job.imported, job.rejected) == (2, 1), job.report
    said = {r["name"]: r for r in job.report}
    assert said["short.wav"]["error"] == "1 segment ending past the clip's end (1 s) cut there"
    assert said["far.wav"]["status"] == "rejected" and "row 3" in said["far.wav"]["error"]
    assert said["far.wav"]["clip_id"] == far.pk
    assert _boxes(short) == [(0.5, 1.0, None, None, None, "noise")]
    assert not Annotation.objects.filter(clip=far).exists()
    assert _boxes(fine) == [(0.5, 2.5, None, None, None, "noise")]


def test_a_job_runs_once_and_a_lost_or_silent_one_is_sent_again_or_failed(
    project, wav_factory, lead
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    clip = _clip(project, wav_factory, "a.wav")
    job = labels_import_start(  # no commit callbacks run: the message "was lost"
        project=project, user=lead, name="l.csv", data=b"audio,labels\na.wav,noise\n"
    )
    assert job.status == "pending" and labels_jobs_resend() == []
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=3))
    assert labels_jobs_resend() == [job.pk]
    assert labels_import_run(job.pk).status == "done"
    assert labels_import_run(job.pk) is None  # a second delivery does nothing
    assert _labels(clip) == ["noise"]
    stuck = labels_import_start(
        project=project, user=lead, name="l.csv", data=b"audio,labels\na.wav,noise\n"
    )
    ImportJob.objects.filter(pk=stuck.pk).update(
        status="running", updated_at=timezone.now() - timedelta(hours=1)
    )
    assert labels_jobs_fail_stale() == 1
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "send the file again" in stuck.error
    assert bytes(LabelsUpload.objects.get(job=stuck).data) == b""


def test_the_api_takes_a_file_from_a_lead_only(
    project, wav_factory, client_for, lead, annotator, django_capture_on_commit_callbacks
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    clip = _clip(project, wav_factory, "a.wav")
    url = reverse("api-project-label-imports", args=[project.pk])

    def send(user, text, **extra):
        upload = io.BytesIO(text.encode())
        upload.name = "labels.csv"
        return client_for(user).post(url, {"file": upload, **extra}, format="multipart")

    assert send(annotator, "audio,labels\na.wav,noise\n").status_code == 403
    refused = send(lead, "audio,labels\na.wav,thunder\n")
    assert refused.status_code == 400 and "thunder" in refused.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = send(lead, "audio,labels\na.wav,thunder\n", create_labels="true")
    assert answer.status_code == 202, answer.content
    job = client_for(lead).get(reverse("api-import", args=[answer.json()["id"]])).json()
    assert job["status"] == "done" and job["imported"] == 1, job
    assert _labels(clip) == ["thunder"]
    other = project_create(name="Elsewhere", created_by=annotator)
    assert (
        client_for(lead)
        .post(reverse("api-project-label-imports", args=[other.pk]), {}, format="multipart")
        .status_code
        == 404
    )


def test_the_command_labels_clips_and_exits_1_naming_what_it_could_not(
    project, wav_factory, tmp_path, capsys
):
    from django.core.management import CommandError, call_command

    label_get_or_create_path(ontology=project.ontology, path="noise")
    clip = _clip(project, wav_factory, "a.wav")
    table = tmp_path / "labels.csv"
    table.write_text("audio,labels\na.wav,noise\nb.wav,noise\n")
    with pytest.raises(SystemExit) as exited:
        call_command("import_labels", str(project.pk), str(table))
    assert exited.value.code == 1
    out = capsys.readouterr()
    assert "not labeled: b.wav: no clip of this project is named b.wav" in out.out
    assert "1 clip(s) labeled, 1 recording(s) not" in out.out
    assert "labeling 2/2 (100%) 1 labeled, 1 not" in out.err
    assert _labels(clip) == ["noise"]
    table.write_text("audio,labels\na.wav,hail\n")
    with pytest.raises(CommandError, match="1 label the label tree lacks: hail"):
        call_command("import_labels", str(project.pk), str(table))


BIRDNET_HEAD = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
    "High Freq (Hz)\tCommon Name\tSpecies Code\tConfidence\tBegin Path\tFile Offset (s)\n"
)


def test_birdnets_detections_become_suggestions_with_their_scores_not_annotations(
    project, wav_factory, run
):
    """A BirdNET selection table is a model's output: imported as suggestions from a source
    (scores kept, a clip label scored as its best detection), never as annotations, which
    would count as people's labels in training."""
    from ml_backend.models import ModelVersion, Prediction

    clip = _clip(project, wav_factory, "dawn.wav", seconds=9.0)
    table = (
        BIRDNET_HEAD + "1\tSpectrogram 1\t1\t0.0\t3.0\t0\t15000\tAmerican Robin\tamerob\t0,8123\t"
        "C:\\data\\dawn.wav\t0.0\n"
        + "2\tSpectrogram 1\t1\t3.0\t6.0\t0\t15000\tAmerican Robin\tamerob\t0.41\t"
        "C:\\data\\dawn.wav\t3.0\n"
        + "3\tSpectrogram 1\t1\t6.0\t9.0\t0\t15000\tBlue Jay\tblujay\t0.35\t"
        "C:\\data\\dawn.wav\t6.0\n"
    )
    job = run(
        "dawn.BirdNET.selection.table.txt",
        table,
        create_labels=True,
        suggestions_from="birdnet-2.4",
    )
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert job.report[0]["status"] == "suggested"
    assert not Annotation.objects.filter(clip=clip).exists()
    source = ModelVersion.objects.get(project=project, name="birdnet-2.4")
    assert source.status == ModelVersion.Status.EXTERNAL
    prediction = Prediction.objects.get(clip=clip, model_version=source)
    names = {str(lb.pk): lb.path for lb in project.ontology.labels.all()}
    assert {names[k]: v for k, v in prediction.clip_scores.items()} == {
        "American Robin": pytest.approx(0.8123),
        "Blue Jay": pytest.approx(0.35),
    }
    assert sorted(
        (s["start"], s["end"], names[str(s["label"])], s["score"]) for s in prediction.segments
    ) == [
        (0.0, 3.0, "American Robin", pytest.approx(0.8123)),
        (3.0, 6.0, "American Robin", pytest.approx(0.41)),
        (6.0, 9.0, "Blue Jay", pytest.approx(0.35)),
    ]
    # The same file again changes nothing, and says so
    same = run(
        "dawn.BirdNET.selection.table.txt",
        table,
        suggestions_from="birdnet-2.4",
    )
    assert (same.imported, same.duplicates) == (0, 1), same.report
    assert same.report[0]["error"] == "it has these suggestions from birdnet-2.4 already"
    # The same source again replaces the clip's suggestions from it.
    again = run(
        "dawn.csv",
        "audio,labels,start,end,score\ndawn.wav,Blue Jay,1.0,2.0,0.9\n",
        suggestions_from="birdnet-2.4",
    )
    assert again.imported == 1, again.report
    prediction = Prediction.objects.get(clip=clip, model_version=source)
    assert [(s["start"], s["score"]) for s in prediction.segments] == [(1.0, 0.9)]


def test_a_suggestions_source_named_as_the_projects_own_versions_or_a_bad_score_is_refused(
    project, wav_factory, lead, run
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    _clip(project, wav_factory, "a.wav")
    with pytest.raises(DomainError, match="the suggestions' source: 'v1' is a name of the"):
        labels_import_start(
            project=project,
            user=lead,
            name="s.csv",
            data=b"audio,labels,start,end,score\na.wav,noise,0,1,0.5\n",
            suggestions_from="v1",
        )
    job = run(
        "s.csv",
        "audio,labels,start,end,score\na.wav,noise,0,1,1.5\n",
        suggestions_from="detector",
    )
    assert job.rejected == 1 and "row 2: score '1.5' is not from 0 to 1" in job.report[0]["error"]


def test_birdnets_table_name_names_its_recording(project, wav_factory, run):
    """Without a Begin Path column (older BirdNET-Analyzer), its table's own name names the
    recording, as Raven's does."""
    clip = _clip(project, wav_factory, "marsh.wav")
    job = run(
        "marsh.BirdNET.selection.table.txt",
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tCommon Name\tConfidence\n"
        "1\tSpectrogram 1\t1\t0\t3\tSora\t0.5\n",
        create_labels=True,
        suggestions_from="birdnet",
    )
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert job.report[0]["clip_id"] == clip.pk


def test_labels_given_to_processed_clips_count_towards_the_next_training(project, wav_factory, run):
    """They were never counted (an import counts its clips as they finish processing, and
    these had): a project of 250 imported labels said "0 labels since training"."""
    from ml_backend.models import MLConfig

    label_get_or_create_path(ontology=project.ontology, path="noise")
    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    for name in ("a.wav", "b.wav", "c.wav"):
        _clip(project, wav_factory, name)
    run("labels.csv", "audio,labels\na.wav,noise\nb.wav,noise\nc.wav,noise\n")
    assert MLConfig.objects.get(project=project).labels_since_training == 3
    run("labels.csv", "audio,labels\na.wav,noise\nb.wav,noise\n")  # nothing new: not counted
    assert MLConfig.objects.get(project=project).labels_since_training == 3


def test_clips_of_one_name_are_told_apart_by_their_folders_or_clip_ids(
    project, wav_factory, run, tmp_path
):
    """AudioMoth names files by their time: two sites' 20240501_050000.WAV, imported from a
    folder (each clip's source_path keeps its site), told apart by the row's folders; an
    Earmark export's clip_id counts where it is a clip of this project of that name."""
    from labelapp.services.manifests import items_from_folder

    label_get_or_create_path(ontology=project.ontology, path="noise")
    label_get_or_create_path(ontology=project.ontology, path="rain")
    for site in ("SITE1", "SITE2"):
        (tmp_path / "cards" / site).mkdir(parents=True)
        wav_factory(f"cards/{site}/20240501_050000.WAV", freq=400 if site == "SITE1" else 900)
    made = {}
    for item in items_from_folder(tmp_path / "cards"):
        outcome = clip_import(project=project, item=item)
        made[item.metadata["source_path"].split("/")[0]] = outcome.clip_id
    job = run(
        "t.Table.1.selections.txt",
        "Begin Time (s)\tEnd Time (s)\tSpecies\tBegin Path\n"
        "0\t0.5\tnoise\tD:\\SITE1\\20240501_050000.WAV\n"
        "0\t0.5\train\tD:\\SITE2\\20240501_050000.WAV\n",
    )
    assert (job.imported, job.rejected) == (2, 0), job.report
    # each named in the report with its folder (the file name alone was there twice)
    assert sorted(r["name"] for r in job.report) == [
        "SITE1/20240501_050000.WAV",
        "SITE2/20240501_050000.WAV",
    ]
    one, two = (Clip.objects.get(pk=made[s]) for s in ("SITE1", "SITE2"))
    assert _boxes(one) == [(0.0, 0.5, None, None, None, "noise")]
    assert _boxes(two) == [(0.0, 0.5, None, None, None, "rain")]
    by_id = run(
        "l.csv",
        f"audio,clip_id,labels\n20240501_050000.WAV,{two.pk},noise\n"
        "20240501_050000.WAV,999999,noise\n",
    )
    assert (by_id.imported, by_id.rejected) == (1, 1), by_id.report
    assert _labels(two) == ["noise"]
    said = next(r["error"] for r in by_id.report if r["status"] == "rejected")
    assert "2 clips of this project are named 20240501_050000.WAV" in said
    assert "the file does not say which: give the folders it was imported from (SITE1/" in said


@pytest.mark.parametrize(
    "setup, text, said",
    [
        (
            "ambiguous",
            "audio,labels\na.wav,call\n",
            "label name 'call' is ambiguous (birds/robin/call, birds/wren/call); use",
        ),
        ("deprecated", "audio,labels\na.wav,rain\n", "label 'rain' is deprecated"),
        ("leaves", "audio,labels\na.wav,birds\n", "label 'birds' is not a leaf"),
        ("clip only", "audio,labels,start,end\na.wav,rain,0,1\n", "takes clip labels only"),
    ],
)
def test_labels_the_projects_rules_refuse_are_named_when_the_file_arrives(
    project, wav_factory, lead, setup, text, said
):
    """Checked clip by clip by the worker, a big file failed every clip after minutes of
    work, the same way; the tick to add labels does not lift them."""
    from ontology.services import label_deprecate

    label_get_or_create_path(ontology=project.ontology, path="birds/robin/call")
    label_get_or_create_path(ontology=project.ontology, path="birds/wren/call")
    rain, _ = label_get_or_create_path(ontology=project.ontology, path="rain")
    if setup == "deprecated":
        label_deprecate(label=rain)
    if setup == "leaves":
        project.leaves_only = True
        project.save()
    if setup == "clip only":
        project.annotation_mode = "clip"
        project.save()
    _clip(project, wav_factory, "a.wav")
    with pytest.raises(DomainError) as caught:
        labels_import_start(
            project=project, user=lead, name="l.csv", data=text.encode(), create_labels=True
        )
    assert said in caught.value.message
    assert not ImportJob.objects.filter(source="labels").exists()


def test_into_a_project_without_labels_the_file_makes_the_tree_and_says_what_it_added(
    project, wav_factory, run
):
    from labelapp.models import LabelsUpload

    _clip(project, wav_factory, "a.wav")
    job = run("l.csv", "audio,labels\na.wav,birds/wren;noise\n")  # no tick needed
    assert job.imported == 1, job.report
    assert LabelsUpload.objects.get(job=job).labels_added == ["birds", "birds/wren", "noise"]


def test_a_single_label_clips_label_is_replaced_by_the_files(lead, wav_factory, run):
    """An earlier file said "zero", this one says "one": the merge held both, refused as
    "choose one clip label, not digit/zero, digit/one" naming a label the file never gave."""
    project = project_create(name="Digits", created_by=lead, label_mode="single")
    for path in ("digit/zero", "digit/one"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    clip = _clip(project, wav_factory, "0_jackson_0.wav")
    first = _run(
        project, lead, "a.csv", "audio,labels\n0_jackson_0.wav,zero\n", capture=run.capture
    )
    assert first.imported == 1
    job = _run(project, lead, "b.csv", "audio,labels\n0_jackson_0.wav,one\n", capture=run.capture)
    assert job.imported == 1, job.report
    assert job.report[0]["error"] == "its clip label digit/zero is now digit/one"
    assert _labels(clip) == ["digit/one"]


def test_a_csvs_other_columns_become_the_clips_metadata(project, wav_factory, run):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    clip = _clip(project, wav_factory, "a.wav")
    run("l.csv", "audio,labels,site,recorder\na.wav,noise,A,AM-7\n")
    clip.refresh_from_db()
    assert clip.metadata["site"] == "A" and clip.metadata["recorder"] == "AM-7"


@pytest.mark.parametrize(
    "name, data",
    [
        ("excel.csv", "audio;labels;start;end\ncafé_ñ.wav;noise;0,5;1\n".encode("cp1252")),
        ("labels.tsv", b"audio\tlabels\ncaf\xc3\xa9_\xc3\xb1.wav\tnoise\n"),
        (
            "caf\u00e9_\u00f1.Table.1.selections.txt",
            "Begin Time (s)\tEnd Time (s)\tSpecies\n0.5\t1\tnoise\n".encode("utf-16"),
        ),
        (
            "table.tsv",
            b"Begin Time (s)\tEnd Time (s)\tSpecies\tBegin File\n"
            b"0.5\t1\tnoise\tcaf\xc3\xa9_\xc3\xb1.wav\n",
        ),
    ],
)
def test_spreadsheets_ways_of_writing_a_table_are_read(project, wav_factory, run, name, data):
    """Excel's CSV where a comma is the decimal mark (`;` between cells, Windows-1252), a
    `.tsv`, Excel's "Unicode text" (UTF-16) of a Raven table, a `.tsv` of Raven's columns."""
    label_get_or_create_path(ontology=project.ontology, path="noise")
    clip = _clip(project, wav_factory, "café_ñ.wav")
    job = run(name, data)
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert _labels(clip) == ["noise"] or _boxes(clip)


def test_a_table_whose_label_column_is_empty_says_so(project, wav_factory, lead):
    _clip(project, wav_factory, "a.wav")
    with pytest.raises(DomainError, match="its 'Species' column is empty in every row"):
        labels_import_start(
            project=project,
            user=lead,
            name="a.Table.1.selections.txt",
            data=b"Begin Time (s)\tEnd Time (s)\tSpecies\n0\t1\t\n",
        )


def test_the_project_page_says_a_labels_job_no_worker_takes_and_what_a_job_added(
    project, wav_factory, lead, run, client
):
    label_get_or_create_path(ontology=project.ontology, path="noise")
    _clip(project, wav_factory, "a.wav")
    done = run("found.csv", "audio,labels\na.wav,noise;rain\n", create_labels=True)
    waiting = labels_import_start(  # no worker takes it (no commit callbacks run)
        project=project, user=lead, name="w.csv", data=b"audio,labels\na.wav,noise\n"
    )
    ImportJob.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "waiting 3 minutes for the worker: busy with other work first, or stopped" in page
    assert 'labels file <bdi class="muted">found.csv</bdi> · 1 clip labeled' in page
    assert "added to the label tree: rain" in page
    body = client.get(f"/api/imports/{done.pk}/").json()
    assert body["labels_file"] == {
        "name": "found.csv",
        "suggestions_from": "",
        "labels_added": ["rain"],
    }


def test_suggestions_are_refused_while_the_projects_own_model_is_active_and_need_a_source(
    project, wav_factory, lead
):
    """The workspace suggests from the project's own model once one is active: a detector's
    rows imported then were never shown, and the import said it had given them."""
    from ml_backend.models import ModelVersion

    label_get_or_create_path(ontology=project.ontology, path="noise")
    _clip(project, wav_factory, "a.wav")
    data = b"audio,labels,start,end,score\na.wav,noise,0,1,0.5\n"
    with pytest.raises(DomainError, match="the suggestions' source: name it"):
        labels_import_start(
            project=project, user=lead, name="s.csv", data=data, suggestions_from="  "
        )
    ModelVersion.objects.create(
        project=project,
        version=1,
        status=ModelVersion.Status.ACTIVE,
        ontology_version=project.ontology.version,
    )
    with pytest.raises(DomainError, match="this project's own model .* is active"):
        labels_import_start(
            project=project, user=lead, name="s.csv", data=data, suggestions_from="birdnet"
        )


def test_a_label_deprecated_since_a_clip_got_it_does_not_block_new_labels_on_it(
    project, wav_factory, run
):
    from ontology.services import label_deprecate

    wren, _ = label_get_or_create_path(ontology=project.ontology, path="wren")
    label_get_or_create_path(ontology=project.ontology, path="thrush")
    clip = _clip(project, wav_factory, "a.wav")
    run("a.csv", "audio,labels\na.wav,wren\n")
    label_deprecate(label=wren)
    job = run("b.csv", "audio,labels,start,end\na.wav,thrush,0.5,1.5\n")
    assert (job.imported, job.rejected) == (1, 0), job.report
    assert _labels(clip) == ["wren"]
    assert _boxes(clip) == [(0.5, 1.5, None, None, None, "thrush")]


def test_a_semicolon_csvs_decimal_commas_are_read_in_times_and_bands(project, wav_factory, run):
    label_get_or_create_path(ontology=project.ontology, path="thrush")
    clip = _clip(project, wav_factory, "a.wav")
    job = run(
        "e.csv", "audio;labels;start;end;low_freq;high_freq\na.wav;thrush;1,5;2,5;1000,5;3000\n"
    )
    assert job.imported == 1, job.report
    assert _boxes(clip) == [(1.5, 2.5, None, 1000.5, 3000.0, "thrush")]
