"""Raven selection tables as an import (labelapp.services.raven_tables): a table Raven Pro
saved beside its recording, and Earmark's own Raven export read back into another project
with the same boxes, channels and clip labels."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from labelapp.exports import export_write
from labelapp.models import Annotation, Clip, Segment
from labelapp.services.annotations import annotation_submit
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import, import_job_create, import_run
from labelapp.services.manifests import items_from_paths
from labelapp.services.projects import project_create
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db

RAVEN_HEAD = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
    "Species\n"
)


def _import(project, *paths, create_labels=True):
    return import_run(
        project=project,
        items=list(items_from_paths(list(paths))),
        job=import_job_create(project=project, source="cli"),
        create_labels=create_labels,
    )


def _boxes(clip) -> list[tuple]:
    return sorted(
        (
            s.start,
            s.end,
            s.channel,
            s.low_freq,
            s.high_freq,
            tuple(sorted(sl.label.path for sl in s.segment_labels.all())),
        )
        for s in Segment.objects.filter(annotation__clip=clip)
    )


def test_a_table_raven_saved_beside_its_recording(project, wav_factory, tmp_path):
    """Raven lists each selection once per view (waveform and spectrogram) and names the
    table after the recording; its labels are in a column of its own ("Species")."""
    wav_factory("dawn.wav", seconds=4.0, sr=16000)
    table = tmp_path / "dawn.Table.1.selections.txt"
    table.write_text(
        RAVEN_HEAD
        + "1\tWaveform 1\t1\t0.5\t1.25\t0\t8000\tAMRO\n"
        + "1\tSpectrogram 1\t1\t0.5\t1.25\t2000\t6000\tAMRO\n"
        + "2\tSpectrogram 1\t1\t2.0\t2.5\t0\t8000\tnoise\n"  # the whole height: every Hz
        + "2\tSpectrogram 1\t1\t2.0\t2.5\t0\t8000\tnoise\n"  # listed again: once
    )
    job = _import(project, table)
    assert job.imported == 1 and job.rejected == 0, job.report
    clip = Clip.objects.get(project=project)
    assert clip.original_name == "dawn.wav"
    assert _boxes(clip) == [
        (0.5, 1.25, None, 2000.0, 6000.0, ("AMRO",)),
        (2.0, 2.5, None, None, None, ("noise",)),
    ]


def test_earmarks_raven_export_reads_back_into_another_project(
    project, annotator, lead, wav_factory, tmp_path
):
    """Boxes with their bands, a segment on every channel of a stereo clip (one row a
    channel in the table), one on its right channel, and a clip label."""
    for path in ("birds/wren", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    made = {}
    for name, channels in (("mono.wav", 1), ("duet.wav", 2)):
        outcome = clip_import(
            project=project,
            item=ImportItem(
                name=name, path=wav_factory(name, seconds=3.0, sr=16000, channels=channels)
            ),
        )
        clip_process(outcome.clip_id)
        made[name] = Clip.objects.get(pk=outcome.clip_id)
    annotation_submit(
        clip=made["mono.wav"],
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
    annotation_submit(
        clip=made["duet.wav"],
        user=annotator,
        segments=[
            {"start": 1.0, "end": 2.0, "labels": ["birds/wren"]},  # every channel
            {
                "start": 2.0,
                "end": 2.5,
                "labels": ["noise"],
                "channel": 1,
                "low_freq": 100,
                "high_freq": 900,
            },
        ],
    )
    out = io.StringIO()
    export_write(out, project=project, format="raven")
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "selections.txt").write_text(out.getvalue())
    for name in made:
        shutil.copy(tmp_path / name, folder / name)
    other = project_create(name="Copy", created_by=lead)
    job = _import(other, folder / "selections.txt")
    assert job.imported == 2 and job.rejected == 0, job.report
    copies = {c.original_name: c for c in Clip.objects.filter(project=other)}
    for name, clip in made.items():
        assert _boxes(copies[name]) == _boxes(clip), name
    mono = Annotation.objects.get(clip=copies["mono.wav"])
    assert [cl.label.path for cl in mono.clip_labels.all()] == ["noise"]


def test_a_bad_row_names_itself_and_a_table_without_labels_is_refused(
    project, wav_factory, tmp_path
):
    wav_factory("a.wav", seconds=2.0)
    wav_factory("b.wav", seconds=2.0, freq=900)
    table = tmp_path / "sel.txt"
    table.write_text(
        "Begin File\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
        "a.wav\t0.1\tsoon\twren\n"
        "b.wav\t0.1\t0.5\twren\n"
        "c.wav\t0.1\t0.5\twren\n"
    )
    job = _import(project, table)
    report = {r["name"]: r for r in job.report}
    assert job.imported == 1 and job.rejected == 2, job.report
    assert "row 2: End Time (s) 'soon' is not a number" in report["a.wav"]["error"]
    assert "c.wav not found beside sel.txt" in report["c.wav"]["error"]
    table.write_text("Begin Time (s)\tEnd Time (s)\tNotes\n0.1\t0.5\tx\n")
    with pytest.raises(CommandError, match="no column of labels"):
        call_command("import_audio", str(project.pk), str(table), "--quiet")


def test_a_box_on_one_channel_of_a_stereo_recording_stays_on_it_and_each_annotator_keeps_theirs(
    project, annotator, reviewer, wav_factory, tmp_path
):
    """The table listed channel 1 only, and the import called that every channel (the
    channels the table names, not the recording's). An Earmark table's Annotator column gave
    one merged annotation: each member now gets their own."""
    wav_factory("duet.wav", seconds=3.0, sr=16000, channels=2)
    table = tmp_path / "sel.txt"
    table.write_text(
        "Begin File\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\tAnnotator\tStatus\n"
        f"duet.wav\t1\t0.5\t1.0\twren\t{annotator.username}\tsubmitted\n"
        f"duet.wav\t1\t1.5\t2.0\twren\t{reviewer.username}\tsubmitted\n"
        f"duet.wav\t2\t1.5\t2.0\twren\t{reviewer.username}\tsubmitted\n"
        "duet.wav\t3\t2.0\t2.5\twren\tsomeone\tsubmitted\n"
    )
    job = _import(project, table)
    assert (
        job.rejected == 1
        and "row 5: channel 3, and duet.wav has 2 channels" in (job.report[0]["error"])
    )
    table.write_text("\n".join(table.read_text().splitlines()[:-1]) + "\n")
    job = _import(project, table)
    assert job.imported == 1, job.report
    by = {
        a.annotator.username: [(s.start, s.channel) for s in a.segments.all()]
        for a in Annotation.objects.filter(clip__project=project)
    }
    assert by == {annotator.username: [(0.5, 0)], reviewer.username: [(1.5, None)]}


def test_a_raven_selection_across_both_channels_is_one_segment_on_all(
    project, wav_factory, tmp_path
):
    """Raven lists a selection of a stereo recording once per channel, under one number:
    both rows are the selection (the second was dropped as a repeat)."""
    wav_factory("pair.wav", seconds=3.0, sr=16000, channels=2)
    table = tmp_path / "pair.Table.1.selections.txt"
    table.write_text(
        RAVEN_HEAD
        + "1\tSpectrogram 1\t1\t0.5\t1.0\t1000\t3000\tAMRO\n"
        + "1\tSpectrogram 1\t2\t0.5\t1.0\t1000\t3000\tAMRO\n"
        + "2\tSpectrogram 1\t2\t1.5\t2.0\t1000\t3000\tAMRO\n"
    )
    job = _import(project, table)
    assert job.imported == 1, job.report
    clip = Clip.objects.get(project=project)
    assert [(b[0], b[2]) for b in _boxes(clip)] == [(0.5, None), (1.5, 1)]


def test_a_birdnet_table_over_a_sequence_of_files(project, wav_factory, tmp_path):
    """BirdNET writes a box's top as 15,000 Hz whatever the rate (a 16 kHz recording's rows
    were refused), a table over several files counts time from the first (File Offset is
    where a selection lies in its own file), and a channel of 1.7 was read as 1."""
    wav_factory("b1.wav", seconds=3.0, sr=16000)
    wav_factory("b2.wav", seconds=3.0, sr=16000, freq=900)
    table = tmp_path / "run.BirdNET.selection.table.txt"
    head = (
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tCommon Name\tBegin Path\tFile Offset (s)\n"
    )
    table.write_text(
        head
        + "1\tSpectrogram 1\t1\t0.0\t2.0\t150\t15000\tEurasian Blackbird\tD:\\data\\b1.wav\t0.0\n"
        + "2\tSpectrogram 1\t1\t4.0\t5.0\t150\t15000\tEurasian Blackbird\tD:\\data\\b2.wav\t1.0\n"
    )
    job = _import(project, table)
    assert job.imported == 2 and job.rejected == 0, job.report
    clips = {c.original_name: c for c in Clip.objects.filter(project=project)}
    assert _boxes(clips["b1.wav"]) == [(0.0, 2.0, None, 150.0, 8000.0, ("Eurasian Blackbird",))]
    assert _boxes(clips["b2.wav"]) == [(1.0, 2.0, None, 150.0, 8000.0, ("Eurasian Blackbird",))]
    wav_factory("c.wav", seconds=3.0, sr=16000, channels=2)
    odd = tmp_path / "c.Table.1.selections.txt"
    odd.write_text(RAVEN_HEAD + "1\tSpectrogram 1\t1.7\t0.5\t1.0\t0\t8000\tAMRO\n")
    job = _import(project, odd)
    assert job.rejected == 1 and "row 2: Channel '1.7' is no whole number" in job.report[0]["error"]
