"""Exports: every format parsed back and checked field by field, the filters, the job with
its progress, the API and its permissions, the page and the `export` command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.exports import common as export_common
from labelapp.exports import export_job_create, export_run, export_write
from labelapp.exports.manifest import splits_assign
from labelapp.models import Annotation, Clip, ExportJob, Project
from labelapp.services.annotations import annotation_skip, annotation_submit
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db

LABELS = ("animals/birds/robin", "animals/birds/crow", "animals/dog", "noise")


def _clip(project, name: str, *, seconds: float = 4.0, channels: int = 1, **metadata) -> Clip:
    """A clip row as an import leaves it; exports read rows, never the audio."""
    n = Clip.objects.count() + 1
    return Clip.objects.create(
        project=project,
        file=f"clips/{project.pk}/{n:02d}/{n:064d}.wav",
        sha256=f"{n:064d}",
        original_name=name,
        size_bytes=1000 * n,
        format="WAV",
        codec="PCM_16",
        duration=seconds,
        sample_rate=16000,
        channels=channels,
        frames=int(seconds * 16000),
        metadata=metadata,
        status=Clip.Status.READY,
    )


@pytest.fixture
def labels(project):
    return {p: label_get_or_create_path(ontology=project.ontology, path=p)[0] for p in LABELS}


@pytest.fixture
def model(project, labels):
    return ModelVersion.objects.create(
        project=project, version=1, name="v1", status=ModelVersion.Status.ACTIVE
    )


@pytest.fixture
def labeled(project, labels, model, lead, annotator):
    """Four clips: robin (annotator, then corrected: two revisions; lead too), a dog with a
    two-channel segment (accepted), a skip, and one nobody labeled. The model thinks clip 1
    is a robin and clip 2 is noise."""
    c1 = _clip(project, "robin.wav", site="north")
    c2 = _clip(project, "dog.wav", channels=2, site="south")
    c3 = _clip(project, "wind.wav", site="north")
    c4 = _clip(project, "unlabeled.wav", site="east")
    annotation_submit(clip=c1, user=annotator, clip_labels=["animals/birds/crow"])
    annotation_submit(
        clip=c1,
        user=annotator,
        clip_labels=["animals/birds/robin"],
        segments=[{"start": 0.5, "end": 1.25, "labels": ["animals/birds/robin", "noise"]}],
    )
    annotation_submit(clip=c1, user=lead, clip_labels=["animals/birds/robin"])
    dog = annotation_submit(
        clip=c2,
        user=annotator,
        clip_labels=["animals/dog"],
        segments=[{"start": 1.0, "end": 2.0, "channel": 1, "labels": ["animals/dog"]}],
    )
    Annotation.objects.filter(pk=dog.pk).update(status=Annotation.Status.ACCEPTED)
    annotation_skip(clip=c3, user=annotator)
    Prediction.objects.create(
        clip=c1,
        model_version=model,
        clip_scores={str(labels["animals/birds/robin"].pk): 0.9, str(labels["noise"].pk): 0.2},
        segments=[
            {"start": 0.4, "end": 1.3, "channel": None, "label": labels["noise"].pk, "score": 0.6}
        ],
        score=0.9,
    )
    Prediction.objects.create(
        clip=c2, model_version=model, clip_scores={str(labels["noise"].pk): 0.7}, score=0.7
    )
    return {"robin": c1, "dog": c2, "wind": c3, "unlabeled": c4}


def _export(project, format, filters=None, options=None) -> str:
    out = io.StringIO()
    export_write(out, project=project, format=format, filters=filters, options=options)
    return out.getvalue()


def _annotation_ids(project, format="earmark", **filters) -> set[int]:
    doc = json.loads(_export(project, format, filters))
    return {a["id"] for c in doc["clips"] for a in c["annotations"]}


# --- Earmark JSON --------------------------------------------------------------------------


def test_earmark_json_holds_everything_field_by_field(project, labeled, annotator, lead):
    doc = json.loads(_export(project, "earmark"))
    assert (doc["format"], doc["version"]) == ("earmark", 1)
    assert doc["project"]["name"] == "Birds" and doc["project"]["label_mode"] == "multi"
    project.ontology.refresh_from_db()
    assert doc["ontology"]["version"] == project.ontology.version
    by_path = {lb["path"]: lb for lb in doc["ontology"]["labels"]}
    assert set(LABELS) <= set(by_path) and by_path["animals/birds/robin"]["parent"] == (
        "animals/birds"
    )
    assert [mv["name"] for mv in doc["model_versions"]] == ["v1"]
    assert [c["original_name"] for c in doc["clips"]] == [
        "robin.wav",
        "dog.wav",
        "wind.wav",
        "unlabeled.wav",
    ]
    robin, dog, wind, unlabeled = doc["clips"]
    assert robin["metadata"] == {"site": "north"} and robin["duration"] == 4.0
    assert (
        robin["sha256"] == labeled["robin"].sha256 and robin["file"] == labeled["robin"].file.name
    )
    mine, leads = robin["annotations"]
    assert (mine["annotator"], mine["status"], mine["version"]) == (
        annotator.username,
        "submitted",
        2,
    )
    assert mine["clip_labels"] == ["animals/birds/robin"]
    (seg,) = mine["segments"]
    assert (seg["start"], seg["end"], seg["channel"]) == (0.5, 1.25, None)
    assert seg["labels"] == ["animals/birds/robin", "noise"]
    assert [r["version"] for r in mine["revisions"]] == [1, 2]
    assert mine["revisions"][0]["data"]["clip_labels"] == ["animals/birds/crow"]
    assert mine["revisions"][1]["author"] == annotator.username
    assert leads["annotator"] == lead.username
    (pred,) = robin["predictions"]
    assert pred["model_version"] == "v1" and pred["score"] == 0.9
    assert pred["clip_scores"] == {"animals/birds/robin": 0.9, "noise": 0.2}
    assert pred["segments"][0]["label"] == "noise" and pred["segments"][0]["score"] == 0.6
    assert dog["annotations"][0]["status"] == "accepted"
    assert dog["annotations"][0]["segments"][0]["channel"] == 1
    assert wind["annotations"][0]["status"] == "skipped"
    assert wind["annotations"][0]["clip_labels"] == [] and unlabeled["annotations"] == []
    assert doc["summary"] == {"clips": 4, "annotations": 4}


def test_earmark_json_of_an_empty_project_is_valid_json(project):
    doc = json.loads(_export(project, "earmark"))
    assert doc["clips"] == [] and doc["summary"] == {"clips": 0, "annotations": 0}


# --- Label Studio JSON ---------------------------------------------------------------------

RESULT_KEYS = {"id", "from_name", "to_name", "type", "value", "origin"}


def _check_ls_result(item: dict, *, prediction: bool) -> None:
    """The shape Label Studio documents for audio results (and Earmark's importer reads)."""
    assert set(item) >= RESULT_KEYS, item
    assert isinstance(item["id"], str) and item["id"]
    assert item["to_name"] == "audio"
    assert item["origin"] == ("prediction" if prediction else "manual")
    if item["type"] == "labels":
        assert item["from_name"] == "label"
        assert set(item["value"]) <= {"start", "end", "channel", "labels"}
        assert item["value"]["end"] > item["value"]["start"] >= 0
        assert all(isinstance(p, str) for p in item["value"]["labels"])
        assert isinstance(item["original_length"], float)
    elif item["type"] == "taxonomy":
        assert item["from_name"] == "clip_label"
        assert all(isinstance(p, list) and p for p in item["value"]["taxonomy"])
    else:
        assert item["type"] == "choices" and item["from_name"] == "clip_label"
        assert all(isinstance(p, str) for p in item["value"]["choices"])
    if prediction:
        assert isinstance(item["score"], float)


def test_label_studio_tasks_have_the_documented_shape(project, labeled, annotator):
    tasks = json.loads(_export(project, "label_studio"))
    assert isinstance(tasks, list) and len(tasks) == 4
    for task in tasks:
        assert set(task) == {"data", "meta", "annotations", "predictions"}
        assert isinstance(task["data"]["audio"], str)
        for ann in task["annotations"]:
            assert isinstance(ann["id"], int) and isinstance(ann["result"], list)
            assert isinstance(ann["was_cancelled"], bool) and ann["ground_truth"] is False
            # Label Studio refuses unknown users in completed_by: it must not be there.
            assert "completed_by" not in ann
            for item in ann["result"]:
                _check_ls_result(item, prediction=False)
        for pred in task["predictions"]:
            assert isinstance(pred["model_version"], str) and isinstance(pred["score"], float)
            for item in pred["result"]:
                _check_ls_result(item, prediction=True)

    robin = tasks[0]
    clip = labeled["robin"]
    assert robin["data"] == {
        "audio": f"/api/clips/{clip.pk}/audio",
        "earmark_clip_id": clip.pk,
        "original_name": "robin.wav",
    }
    assert robin["meta"]["metadata"] == {"site": "north"}
    mine = robin["annotations"][0]
    assert mine["earmark"]["annotator"] == annotator.username
    taxonomy = [r for r in mine["result"] if r["type"] == "taxonomy"]
    assert taxonomy[0]["value"] == {"taxonomy": [["animals", "birds", "robin"]]}
    (segment,) = [r for r in mine["result"] if r["type"] == "labels"]
    assert segment["value"] == {
        "start": 0.5,
        "end": 1.25,
        "labels": ["animals/birds/robin", "noise"],
    }  # no channel: the segment covers every channel
    (pred,) = robin["predictions"]
    assert pred["model_version"] == "v1" and pred["score"] == 0.9
    clip_pred = [r for r in pred["result"] if r["type"] == "taxonomy"][0]
    assert clip_pred["value"]["taxonomy"] == [["animals", "birds", "robin"]]
    seg_pred = [r for r in pred["result"] if r["type"] == "labels"][0]
    assert seg_pred["value"]["labels"] == ["noise"] and seg_pred["score"] == 0.6
    dog = tasks[1]["annotations"][0]
    assert [r["value"].get("channel") for r in dog["result"] if r["type"] == "labels"] == [1]
    assert tasks[2]["annotations"][0]["was_cancelled"] is True
    assert tasks[2]["annotations"][0]["result"] == []


def test_label_studio_options_give_absolute_urls_and_choices(project, labeled):
    tasks = json.loads(
        _export(
            project,
            "label_studio",
            options={"base_url": "https://earmark.example.org/", "clip_labels": "choices"},
        )
    )
    assert tasks[0]["data"]["audio"] == (
        f"https://earmark.example.org/api/clips/{labeled['robin'].pk}/audio"
    )
    chosen = [r for r in tasks[0]["annotations"][0]["result"] if r["type"] == "choices"]
    assert chosen[0]["value"] == {"choices": ["animals/birds/robin"]}


def test_the_label_studio_config_is_served_to_a_pipeline(
    project, labels, lead, annotator, client_for
):
    """It was on the exports page only: a pipeline creating the Label Studio project had to
    scrape it."""
    from labelapp.exports import label_studio_config

    url = f"/api/projects/{project.pk}/exports/label-studio-config/"
    assert client_for(lead).get(url).json() == {"config": label_studio_config(project)}
    choices = client_for(lead).get(url, {"clip_labels": "choices"}).json()["config"]
    assert choices == label_studio_config(project, clip_labels="choices") and "<Choices" in choices
    assert client_for(lead).get(url, {"clip_labels": "xml"}).status_code == 400
    assert client_for(annotator).get(url).status_code == 403


def test_the_label_studio_config_names_what_the_results_use(project, labels):
    from labelapp.exports import label_studio_config

    xml = label_studio_config(project)
    assert '<Audio name="audio" value="$audio"/>' in xml
    # multi-label: a region may carry several labels (Label Studio's default is one)
    assert '<Labels name="label" toName="audio" choice="multiple">' in xml
    assert '<Label value="animals/birds/robin"/>' in xml
    assert '<Taxonomy name="clip_label" toName="audio">' in xml
    project.label_mode = "single"
    project.save()
    single = label_studio_config(project)
    assert '<Labels name="label" toName="audio">' in single
    assert '<Taxonomy name="clip_label" toName="audio" maxUsages="1">' in single
    project.label_mode = "multi"
    project.save()
    # a stereo clip in the project: Label Studio draws its channels apart, where the results'
    # `channel` puts a segment
    _clip(project, "stereo.wav", channels=2)
    assert '<Audio name="audio" value="$audio" splitchannels="true"/>' in label_studio_config(
        project
    )


def test_the_label_studio_config_offers_leaves_in_a_leaves_only_project_and_used_deprecated(
    project, labeled
):
    """Flat lists offer what annotators may choose: in a leaves-only project no inner label.
    A deprecated label the exported annotations still use stays (Label Studio shows only
    what its config offers); an unused deprecated one goes."""
    from labelapp.exports import label_studio_config
    from ontology.services import label_deprecate

    project.leaves_only = True
    project.save()
    label_deprecate(label=labeled_label(project, "animals/birds/robin"))
    label_deprecate(label=labeled_label(project, "animals/birds/crow"))
    xml = label_studio_config(project)
    assert '<Label value="animals/birds"/>' not in xml
    assert '<Label value="animals/birds/robin"/>' in xml  # used by the robin clip
    assert '<Label value="animals/dog"/>' in xml
    assert "animals/birds/crow" not in xml  # deprecated, and no annotation uses it now
    choices = label_studio_config(project, clip_labels="choices")
    assert '<Choice value="animals/birds"/>' not in choices
    # a label that got a child since an annotation chose it stays offered, as used
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="noise/hiss")
    assert '<Label value="noise"/>' in label_studio_config(project)


def labeled_label(project, path):
    from ontology.models import Label

    return Label.objects.get(ontology=project.ontology, path=path)


# --- CSV -----------------------------------------------------------------------------------


def test_csv_has_a_row_per_clip_label_and_per_segment_label(project, labeled, annotator):
    rows = list(csv.DictReader(io.StringIO(_export(project, "csv"))))
    robin = labeled["robin"]
    mine = [
        r for r in rows if r["clip_id"] == str(robin.pk) and r["annotator"] == annotator.username
    ]
    assert [(r["kind"], r["start"], r["end"], r["label"]) for r in mine] == [
        ("clip", "", "", "animals/birds/robin"),
        ("segment", "0.5", "1.25", "animals/birds/robin"),
        ("segment", "0.5", "1.25", "noise"),
    ]
    assert {r["status"] for r in mine} == {"submitted"}
    assert mine[0]["original_name"] == "robin.wav" and mine[0]["annotation_version"] == "2"
    dog = [r for r in rows if r["clip_id"] == str(labeled["dog"].pk)]
    assert [(r["kind"], r["channel"], r["status"]) for r in dog] == [
        ("clip", "", "accepted"),
        ("segment", "1", "accepted"),
    ]
    # the skip is one row without a label (a filter on skips wrote none); the unlabeled clip,
    # with no annotation, has none
    wind = [r for r in rows if r["clip_id"] == str(labeled["wind"].pk)]
    assert [(r["kind"], r["label"], r["status"]) for r in wind] == [("none", "", "skipped")]
    assert not [r for r in rows if r["clip_id"] == str(labeled["unlabeled"].pk)]
    assert len(rows) == 7
    assert {(r["reviewed_by"], r["corrected_by"]) for r in rows} == {("", "")}  # none reviewed
    assert {(r["unsure"], r["note"]) for r in rows} == {("", "")}  # nobody unsure
    Annotation.objects.filter(clip=labeled["wind"]).update(unsure=True, note="wind or rain?")
    rows = list(csv.DictReader(io.StringIO(_export(project, "csv"))))
    wind = [r for r in rows if r["clip_id"] == str(labeled["wind"].pk)]
    assert [(r["unsure"], r["note"]) for r in wind] == [("true", "wind or rain?")]
    said = json.loads(_export(project, "earmark"))
    notes = {a["note"] for c in said["clips"] for a in c["annotations"] if a["unsure"]}
    assert notes == {"wind or rain?"}
    # each clip's final labels, as the training and the manifest take them
    final = {c["original_name"]: c["final_labels"] for c in said["clips"]}
    assert final == {
        # multi-label: each label of at least half the answers (noise: the annotator's segment)
        "robin.wav": ["animals/birds/robin", "noise"],
        "dog.wav": ["animals/dog"],  # accepted
        "wind.wav": [],  # a skip
        "unlabeled.wav": [],
    }
    Clip.objects.filter(pk=labeled["dog"].pk).update(needs_adjudication=True)
    said = json.loads(_export(project, "earmark"))
    assert {c["original_name"]: c["final_labels"] for c in said["clips"]}["dog.wav"] == []
    filtered = json.loads(_export(project, "earmark", {"annotator": annotator.username}))
    assert {c["final_labels"] for c in filtered["clips"]} == {None}  # not every answer is there


def test_raven_selection_table_has_a_selection_per_segment_and_per_clip_label(
    project, labeled, annotator, lead
):
    """Bioacoustics leads from Raven had no table Raven (or opensoundscape) opens: the CSV is
    comma-separated, a row per label, channels from 0."""
    stereo = _clip(project, "both.wav", channels=2)
    annotation_submit(
        clip=stereo, user=annotator, segments=[{"start": 1, "end": 2, "labels": ["noise"]}]
    )
    text = _export(project, "raven")
    assert "\r" not in text and text.endswith("\n")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    header = text.split("\n", 1)[0].split("\t")
    assert header[:8] == [
        "Selection",
        "View",
        "Channel",
        "Begin Time (s)",
        "End Time (s)",
        "Low Freq (Hz)",
        "High Freq (Hz)",
        "Begin File",
    ]
    assert [r["Selection"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    by = {(r["Begin File"], r["Kind"], r["Annotator"]): r for r in rows}
    seg = by[("robin.wav", "segment", annotator.username)]
    assert (seg["Begin Time (s)"], seg["End Time (s)"], seg["Channel"]) == ("0.5", "1.25", "1")
    assert seg["Annotation"] == "animals/birds/robin;noise"  # one selection, both labels
    assert (seg["Low Freq (Hz)"], seg["High Freq (Hz)"], seg["View"]) == (
        "0",
        "8000",
        "Spectrogram 1",
    )
    dog = by[("dog.wav", "segment", annotator.username)]
    assert dog["Channel"] == "2" and dog["Status"] == "accepted"  # Earmark's channel 1
    whole = by[("robin.wav", "clip", lead.username)]
    assert (whole["Begin Time (s)"], whole["End Time (s)"], whole["Annotation"]) == (
        "0",
        "4",
        "animals/birds/robin",
    )
    assert whole["Clip ID"] == str(labeled["robin"].pk)
    assert not any(r["Begin File"] == "wind.wav" for r in rows)  # a skip has no selection
    # a segment of every channel of a stereo clip: one selection on each (as "1" it read as
    # the left channel only)
    both = [r["Channel"] for r in rows if r["Begin File"] == "both.wav"]
    assert both == ["1", "2"]
    # a label filter keeps the selections with it
    only = list(
        csv.DictReader(
            io.StringIO(_export(project, "raven", {"label": "animals/dog"})), delimiter="\t"
        )
    )
    assert {r["Begin File"] for r in only} == {"dog.wav"} and len(only) == 2


def test_a_label_filter_keeps_only_that_labels_rows_in_csv(project, labeled, annotator, lead):
    """CSV rows are labels: filtered by a label, the other labels of the same annotations
    stay out (the JSON formats keep whole annotations)."""

    def rows(label):
        text = _export(project, "csv", {"label": label})
        return [(r["annotator"], r["kind"], r["label"]) for r in csv.DictReader(io.StringIO(text))]

    # "noise" is one segment label of the annotator's robin annotation (beside robin)
    assert rows("noise") == [(annotator.username, "segment", "noise")]
    # a parent takes its children, and only those
    birds = rows("animals/birds")
    assert sorted(birds) == sorted(
        [
            (annotator.username, "clip", "animals/birds/robin"),
            (annotator.username, "segment", "animals/birds/robin"),
            (lead.username, "clip", "animals/birds/robin"),
        ]
    )
    # the annotation filter still chooses the annotations: the JSON keeps them whole
    doc = json.loads(_export(project, "earmark", {"label": "noise"}))
    (annotation,) = [a for c in doc["clips"] for a in c["annotations"]]
    assert annotation["clip_labels"] == ["animals/birds/robin"]


# --- Training manifest ---------------------------------------------------------------------


@pytest.fixture
def speakers(project, labels, annotator):
    """Ten speakers with six clips each, two per class: three classes."""
    project.label_mode = "single"
    project.save()
    classes = ["animals/birds/robin", "animals/dog", "noise"]
    for s in range(10):
        for i in range(6):
            clip = _clip(project, f"s{s}-{i}.wav", speaker=f"spk{s}")
            annotation_submit(clip=clip, user=annotator, clip_labels=[classes[i % 3]])
    return project


def _manifest(project, **options) -> tuple[list[dict], dict]:
    out = io.StringIO()
    summary = export_write(out, project=project, format="manifest", options=options)
    return list(csv.DictReader(io.StringIO(out.getvalue()))), summary


def test_manifest_keeps_each_speaker_in_one_split(speakers):
    rows, summary = _manifest(speakers, group_by="speaker", seed=3)
    assert len(rows) == 60
    split_of: dict[str, set] = {}
    for row in rows:
        split_of.setdefault(row["group"], set()).add(row["split"])
        assert row["audio"].startswith(f"clips/{speakers.pk}/")
    assert all(len(s) == 1 for s in split_of.values()), split_of
    groups = {g: s.pop() for g, s in split_of.items()}
    assert sorted(list(groups.values()).count(s) for s in ("train", "validation", "test")) == [
        1,
        1,
        8,
    ]
    sizes = {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}
    assert summary["split_sizes"] == sizes == {"train": 48, "validation": 6, "test": 6}
    # stratified: every class is in every split
    for split in sizes:
        assert {r["labels"] for r in rows if r["split"] == split} == {
            "animals/birds/robin",
            "animals/dog",
            "noise",
        }
    again, _ = _manifest(speakers, group_by="speaker", seed=3)
    assert again == rows  # a fixed seed gives the same split


def test_a_group_field_no_clip_has_is_refused_naming_the_fields_there_are(
    speakers, client_for, lead
):
    with pytest.raises(DomainError, match=r"no clip .* field 'Speaker' \(fields the clips have: "):
        _manifest(speakers, group_by="Speaker")
    res = client_for(lead).post(
        f"/api/projects/{speakers.pk}/exports/",
        {"format": "manifest", "options": {"group_by": "nope"}},
        format="json",
    )
    assert res.status_code == 400 and "speaker" in res.json()["detail"]


def test_manifest_without_a_group_field_splits_clip_by_clip_and_can_be_json_lines(speakers):
    out = io.StringIO()
    summary = export_write(
        out,
        project=speakers,
        format="manifest",
        options={"splits": "0.5,0.25,0.25", "manifest_format": "jsonl", "audio_root": "/data"},
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 60 and summary["split_sizes"] == {"train": 30, "validation": 15, "test": 15}
    assert rows[0]["audio"].startswith("/data/clips/") and isinstance(rows[0]["labels"], list)
    assert {r["group"] for r in rows} == {""}


def test_split_assignment_stratifies_a_rare_label():
    from collections import Counter

    groups = {f"g{i}": (10, Counter({"common": 10})) for i in range(8)}
    groups.update({f"r{i}": (2, Counter({"rare": 2})) for i in range(3)})
    split = splits_assign(groups, [0.6, 0.2, 0.2], seed=0)
    assert {split[f"r{i}"] for i in range(3)} == {"train", "validation", "test"}


def test_a_manifest_keeps_the_splits_of_an_earlier_one_as_labels_grow(speakers, lead, annotator):
    """With the same seed, a speaker tested on in the first manifest moved to train once
    more speakers were labeled (test-set leakage across exports)."""
    first = export_job_create(
        project=speakers,
        user=lead,
        format="manifest",
        filters=None,
        options={"group_by": "speaker", "seed": 3},
    )
    export_run(first.pk)
    first.refresh_from_db()
    assert first.status == "done", first.error
    with default_storage.open(first.file) as fh:
        before = {r["group"]: r["split"] for r in csv.DictReader(io.StringIO(fh.read().decode()))}
    # five more speakers, with more clips each than the first ten, and a clip more for those
    classes = ["animals/birds/robin", "animals/dog", "noise"]
    for s in range(10, 15):
        for i in range(12):
            clip = _clip(speakers, f"s{s}-{i}.wav", speaker=f"spk{s}")
            annotation_submit(clip=clip, user=annotator, clip_labels=[classes[i % 3]])
    for s in range(10):
        clip = _clip(speakers, f"s{s}-extra.wav", speaker=f"spk{s}")
        annotation_submit(clip=clip, user=annotator, clip_labels=["noise"])

    anew, _ = _manifest(speakers, group_by="speaker", seed=3)
    moved = {r["group"] for r in anew if r["group"] in before and r["split"] != before[r["group"]]}
    assert moved, "the premise: placed anew, some speaker changes split"

    rows, summary = _manifest(speakers, group_by="speaker", seed=3, keep_splits=first.pk)
    after = {}
    for row in rows:
        after.setdefault(row["group"], set()).add(row["split"])
    assert all(after[g] == {split} for g, split in before.items()), (before, after)
    assert summary["kept_splits_of"] == first.pk and summary["clips_kept"] == 60
    # the new speakers are placed too, each in one split
    new = {g: splits for g, splits in after.items() if g not in before}
    assert len(new) == 5 and all(len(splits) == 1 for splits in new.values())


def test_keep_splits_names_a_finished_manifest_of_the_project(speakers, client_for, lead):
    api = client_for(lead)
    for value, message in (
        ("abc", "give the id of an earlier manifest export"),
        ("²", "give the id of an earlier manifest export"),  # a digit int() refuses
        (0, "give the id of an earlier manifest export"),  # was read as "none"
        ("0", "give the id of an earlier manifest export"),
        (99999, "has no manifest export #99999"),
    ):
        res = api.post(
            f"/api/projects/{speakers.pk}/exports/",
            {"format": "manifest", "options": {"keep_splits": value}},
            format="json",
        )
        assert res.status_code == 400 and message in res.json()["detail"], res.json()
    gone = export_job_create(
        project=speakers, user=lead, format="manifest", filters=None, options={}
    )
    export_run(gone.pk)
    gone.refresh_from_db()
    default_storage.delete(gone.file)
    res = api.post(
        f"/api/projects/{speakers.pk}/exports/",
        {"format": "manifest", "options": {"keep_splits": gone.pk}},
        format="json",
    )
    assert res.status_code == 400 and "is gone" in res.json()["detail"]
    csv_job = export_job_create(project=speakers, user=lead, format="csv", filters=None, options={})
    res = api.post(
        f"/api/projects/{speakers.pk}/exports/",
        {"format": "manifest", "options": {"keep_splits": csv_job.pk}},
        format="json",
    )
    detail = res.json()["detail"]
    assert res.status_code == 400 and f"#{csv_job.pk} is a csv export, not a manifest" in detail


def test_manifest_labels_are_what_annotators_agree_on(project, labels, annotator, lead):
    clip = _clip(project, "x.wav")
    annotation_submit(clip=clip, user=annotator, clip_labels=["animals/dog", "noise"])
    annotation_submit(clip=clip, user=lead, clip_labels=["animals/dog"])
    rows, _ = _manifest(project)
    assert rows[0]["labels"] == "animals/dog;noise"  # multi-label: chosen by at least half
    Annotation.objects.filter(annotator=lead).update(status=Annotation.Status.REJECTED)
    rows, _ = _manifest(project)
    assert rows[0]["labels"] == "animals/dog;noise"  # a rejected annotation does not count


def test_a_multi_label_manifest_joins_clip_and_segment_labels_as_the_training_does(
    project, labels, annotator
):
    """A clip tagged "animals" with a dog segment was exported as "animals" alone, while the
    training read both."""
    clip = _clip(project, "x.wav")
    annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["noise"],
        segments=[{"start": 0.1, "end": 0.3, "labels": ["animals/dog"]}],
    )
    rows, _ = _manifest(project)
    assert rows[0]["labels"] == "animals/dog;noise"
    Project.objects.filter(pk=project.pk).update(label_mode="single")
    project.refresh_from_db()
    rows, _ = _manifest(project)
    assert rows[0]["labels"] == "noise"  # single-label: the clip label, not a tie


def test_manifest_takes_reviewed_labels_and_leaves_out_ties_and_adjudication(
    project, labels, annotator, lead, reviewer
):
    """Single-label, two annotators disagree: the tie went to the label first in alphabetical
    order, and a reviewer's acceptance of the other one counted for nothing. Now a tie is left
    out, an accepted annotation outweighs unreviewed ones, and a clip sent to adjudication is
    left out until it is settled."""
    project.label_mode = "single"
    project.save()
    clip = _clip(project, "x.wav")
    annotation_submit(clip=clip, user=annotator, clip_labels=["noise"])
    theirs = annotation_submit(clip=clip, user=lead, clip_labels=["animals/dog"])
    rows, _ = _manifest(project)
    assert rows == []  # a tie: a reviewer settles it
    Annotation.objects.filter(pk=theirs.pk).update(status=Annotation.Status.ACCEPTED)
    rows, _ = _manifest(project)
    assert [r["labels"] for r in rows] == ["animals/dog"]
    Clip.objects.filter(pk=clip.pk).update(needs_adjudication=True)
    assert _manifest(project)[0] == []


# --- Filters -------------------------------------------------------------------------------


def _ann(clip, user) -> int:
    return Annotation.objects.get(clip=clip, annotator=user).pk


def test_filters_by_status_label_and_annotator(project, labeled, annotator, lead):
    robin, dog, wind = labeled["robin"], labeled["dog"], labeled["wind"]
    assert _annotation_ids(project, status=["accepted"]) == {_ann(dog, annotator)}
    assert _annotation_ids(project, status="submitted,skipped") == {
        _ann(robin, annotator),
        _ann(robin, lead),
        _ann(wind, annotator),
    }
    # a label takes its children: "animals/birds" finds the robins
    assert _annotation_ids(project, label="animals/birds") == {
        _ann(robin, annotator),
        _ann(robin, lead),
    }
    # segment labels count too
    assert _annotation_ids(project, label=["noise"]) == {_ann(robin, annotator)}
    # a label is named as everywhere: by a bare name when it is unique, or by a former path
    assert _annotation_ids(project, label="robin") == _annotation_ids(
        project, label="animals/birds/robin"
    )
    from ontology.services import label_rename

    label_rename(label=labeled_label(project, "animals/birds"), name="aves")
    assert _annotation_ids(project, label="animals/birds") == {
        _ann(robin, annotator),
        _ann(robin, lead),
    }
    assert _annotation_ids(project, annotator=lead.username) == {_ann(robin, lead)}
    # a filter on annotations leaves out clips without a matching one
    doc = json.loads(_export(project, "earmark", {"annotator": lead.username}))
    assert [c["original_name"] for c in doc["clips"]] == ["robin.wav"]


def test_an_annotator_who_left_the_project_can_still_be_filtered_on(project, labeled, annotator):
    from labelapp.exports.filters import export_annotator_choices
    from labelapp.services.projects import membership_remove

    mine = _annotation_ids(project, annotator=annotator.username)
    membership_remove(project=project, user=annotator)
    assert mine and _annotation_ids(project, annotator=annotator.username) == mine
    choices = dict(export_annotator_choices(project))
    assert choices[annotator.username] == "former member"
    assert "earmark-system" not in choices


def test_filters_by_date(project, labeled, annotator, lead):
    old = timezone.make_aware(dt.datetime(2024, 1, 10, 12, 0))
    Annotation.objects.filter(annotator=lead).update(updated_at=old)
    lead_ann = _ann(labeled["robin"], lead)
    assert _annotation_ids(project, until="2024-01-10") == {lead_ann}  # the whole day
    assert _annotation_ids(project, until="2024-01-09") == set()
    assert lead_ann not in _annotation_ids(project, since="2024-01-11")
    assert _annotation_ids(project, since="2024-01-10T11:00:00", until="2024-01-10T12:00:00") == {
        lead_ann
    }


def test_filters_by_agreement_with_the_active_model(project, labeled, annotator, lead):
    robin, dog = labeled["robin"], labeled["dog"]
    # the model says robin for clip 1 (both agree) and noise for clip 2 (the dog disagrees)
    assert _annotation_ids(project, agreement="agree") == {
        _ann(robin, annotator),
        _ann(robin, lead),
    }
    assert _annotation_ids(project, agreement="disagree") == {_ann(dog, annotator)}
    # a more general annotation than the prediction does not name it
    annotation_submit(clip=robin, user=lead, clip_labels=["animals/birds"])
    assert _annotation_ids(project, agreement="disagree") == {
        _ann(dog, annotator),
        _ann(robin, lead),
    }


def test_agreement_compares_with_the_clips_newest_prediction_after_a_new_version(
    project, labeled, annotator, lead
):
    """A new version scores the unlabeled clips only: compared with the active version's
    predictions alone, every clip labeled before it fell out, and the filter kept nothing."""
    from labelapp.exports.jobs import export_write

    robin, dog = labeled["robin"], labeled["dog"]
    ModelVersion.objects.filter(project=project, status="active").update(status="retired")
    ModelVersion.objects.create(project=project, version=9, name="v9", status="active")
    assert _annotation_ids(project, agreement="agree") == {
        _ann(robin, annotator),
        _ann(robin, lead),
    }
    assert _annotation_ids(project, agreement="disagree") == {_ann(dog, annotator)}
    summary = export_write(
        io.StringIO(), project=project, format="csv", filters={"agreement": "agree"}
    )
    older = Prediction.objects.get(clip=robin).model_version.name
    assert summary["agreement"] == {"compared_with": {older: 3}, "without_prediction": 0}
    # A clip without any prediction is counted as left out.
    Prediction.objects.filter(clip=dog).delete()
    summary = export_write(
        io.StringIO(), project=project, format="csv", filters={"agreement": "disagree"}
    )
    assert summary["agreement"]["without_prediction"] == 1


def test_agreement_takes_the_active_versions_word_after_an_older_one_is_made_active(
    project, labeled, annotator, lead, labels
):
    """After "Make active" on v1, a retired v2 (a higher number) was compared with."""
    robin = labeled["robin"]
    v2 = ModelVersion.objects.create(project=project, version=2, name="v2", status="retired")
    Prediction.objects.create(
        clip=robin, model_version=v2, clip_scores={str(labels["noise"].pk): 0.9}, score=0.9
    )
    assert _ann(robin, annotator) in _annotation_ids(project, agreement="agree")  # v1 says robin


@pytest.mark.parametrize(
    "filters,message",
    [
        ({"status": ["done"]}, "unknown status 'done'"),
        ({"label": "animals/cat"}, "no label 'animals/cat'"),
        ({"annotator": "nobody"}, "nobody named 'nobody' is a member of this project"),
        ({"since": "last week"}, "is not a date"),
        ({"since": "2024-02-01", "until": "2024-01-01"}, "'since' must be before 'until'"),
        ({"agreement": "maybe"}, "neither 'agree' nor 'disagree'"),
        ({"colour": "red"}, "unknown filter 'colour'"),
    ],
)
def test_bad_filters_are_refused_with_a_clear_message(project, labels, filters, message):
    with pytest.raises(DomainError, match=message):
        _export(project, "csv", filters)


def test_agreement_needs_an_active_model(project, labels):
    with pytest.raises(DomainError, match="no active model"):
        _export(project, "csv", {"agreement": "agree"})


def test_options_of_another_format_are_refused(project):
    with pytest.raises(DomainError, match="'group_by' does not apply to csv"):
        _export(project, "csv", options={"group_by": "speaker"})
    with pytest.raises(DomainError, match="three fractions"):
        _export(project, "manifest", options={"splits": "0.9,0.2,0"})


# --- Jobs ----------------------------------------------------------------------------------


def _progress(project, format: str, chunk: int, monkeypatch) -> list[tuple[int, int]]:
    """The (done, total) an export of `format` reports, reading `chunk` clips at a time."""
    monkeypatch.setattr(export_common, "CHUNK", chunk)
    seen = []
    export_write(
        io.StringIO(),
        project=project,
        format=format,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    return seen


def test_a_job_streams_in_chunks_and_reports_progress(project, labeled, monkeypatch):
    assert _progress(project, "csv", 3, monkeypatch) == [(0, 4), (3, 4), (4, 4), (4, 4)]


def test_a_two_pass_manifest_counts_its_progress_in_clips(project, labeled, monkeypatch):
    """The manifest reads every clip twice; its job said "6/8" of a 4-clip project."""
    seen = _progress(project, "manifest", 2, monkeypatch)
    assert {total for _, total in seen} == {4}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert (2, 4) in seen  # the first pass's end: half the work


@pytest.mark.parametrize("format", ["earmark", "label_studio", "csv", "manifest"])
def test_queries_grow_with_chunks_not_with_clips(
    project, labeled, annotator, format, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        _export(project, format)
    for i in range(30):
        clip = _clip(project, f"more{i}.wav")
        annotation_submit(
            clip=clip,
            user=annotator,
            clip_labels=["noise"],
            segments=[{"start": 0.1, "end": 0.2, "labels": ["noise"]}],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        text = _export(project, format)
    assert "more29.wav" in text


def test_a_job_runs_on_commit_and_writes_into_the_media_store(
    project, labeled, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = export_job_create(
            project=project,
            user=lead,
            format="label_studio",
            filters={"status": ["accepted"]},
            options=None,
        )
        assert ExportJob.objects.get(pk=job.pk).status == "pending"
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.progress, job.done, job.total) == ("done", 1.0, 1, 1), job.error
    assert job.file == f"exports/{project.pk}/{job.pk}.json"
    assert job.started_at <= job.finished_at and job.size_bytes > 0
    assert job.filters == {"status": ["accepted"]}
    assert job.summary == {"tasks": 1, "annotations": 1} and "summary" not in job.options
    with default_storage.open(job.file, "rb") as fh:
        tasks = json.loads(fh.read())
    assert [t["data"]["original_name"] for t in tasks] == ["dog.wav"]


def test_a_second_delivery_does_nothing(project, labeled, lead):
    job = export_job_create(project=project, user=lead, format="csv", filters={}, options={})
    export_run(job.pk)
    job.refresh_from_db()
    first = (job.status, job.file, job.finished_at)
    default_storage.delete(job.file)
    export_run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.file, job.finished_at) == first
    assert not default_storage.exists(job.file)  # nothing was written again
    export_run(987654)  # a job that is gone: nothing to do, no error


def test_a_job_whose_message_was_lost_is_sent_again(project, labeled, lead):
    from labelapp.exports import export_jobs_resend_pending

    job = export_job_create(project=project, user=lead, format="csv", filters={}, options={})
    # created outside of a transaction that commits: no message went out
    assert export_jobs_resend_pending(older_than_s=60) == 0  # too recent to be lost
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    assert export_jobs_resend_pending(older_than_s=60) == 1
    job.refresh_from_db()
    assert job.status == "done" and job.file


def test_a_job_whose_worker_died_is_run_again_by_the_sweep(project, labeled, lead):
    from labelapp.tasks import exports_sweep

    job = export_job_create(project=project, user=lead, format="csv", filters={}, options={})
    # a worker claimed it, wrote part of it and was killed: the row says running, half done
    ExportJob.objects.filter(pk=job.pk).update(
        status="running", done=3, progress=0.5, started_at=timezone.now() - dt.timedelta(hours=1)
    )
    fresh = export_job_create(project=project, user=lead, format="csv", filters={}, options={})
    ExportJob.objects.filter(pk=fresh.pk).update(status="running", started_at=timezone.now())
    exports_sweep()  # eager here: the re-sent job runs inline
    job.refresh_from_db()
    assert job.status == "done" and job.progress == 1.0 and default_storage.exists(job.file)
    fresh.refresh_from_db()
    assert fresh.status == "running"  # still within its time: left to its worker


def test_a_job_that_cannot_run_ends_failed_with_the_reason(project, labeled, lead, labels):
    from ontology.services import label_create, label_delete, label_rename

    hum = label_create(ontology=project.ontology, name="hum")
    job = export_job_create(
        project=project, user=lead, format="csv", filters={"label": "hum"}, options={}
    )
    # the label is deleted before a worker gets to the job (a rename would not matter: its
    # former path still names it)
    label_rename(label=hum, name="buzz")
    label_delete(label=hum)
    export_run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "no label 'hum'" in job.error
    assert job.finished_at is not None and not job.file


# --- API -----------------------------------------------------------------------------------


def test_a_lead_exports_through_the_api_and_downloads_the_file(
    client_for, project, labeled, lead, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/projects/{project.pk}/exports/",
            {"format": "csv", "filters": {"annotator": "ann-annotator"}},
            format="json",
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    detail = client.get(f"/api/exports/{job_id}/").json()
    assert detail["status"] == "done" and detail["progress"] == 1.0
    assert detail["download_url"] == f"/api/exports/{job_id}/download"
    listed = client.get(f"/api/projects/{project.pk}/exports/").json()
    assert [j["id"] for j in listed] == [job_id]
    download = client.get(detail["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="birds-csv-{job_id}.csv"'
    assert download["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert {r["annotator"] for r in rows} == {"ann-annotator"} and len(rows) == 6


def test_a_download_before_the_job_is_done_is_a_409(client_for, project, lead):
    job = ExportJob.objects.create(project=project, created_by=lead, format="csv")
    response = client_for(lead).get(f"/api/exports/{job.pk}/download")
    assert response.status_code == 409 and "pending" in response.json()["detail"]


@pytest.mark.parametrize(
    "body,message",
    [
        ({"format": "xml"}, "unknown export format 'xml'"),
        ({"format": "csv", "filters": {"status": "lost"}}, "unknown status 'lost'"),
        ({"format": "csv", "filters": "all"}, "Expected a dictionary"),
        ({"format": "manifest", "options": {"seed": "x"}}, "'seed' must be a whole number"),
        # Cut to 1, 1.7 would have given seed 1's split under another seed's name.
        ({"format": "manifest", "options": {"seed": 1.7}}, "'seed' must be a whole number"),
        ({"format": "manifest", "options": {"seed": "1.7"}}, "'seed' must be a whole number"),
        ({"format": "manifest", "options": {"seed": True}}, "'seed' must be a whole number"),
    ],
)
def test_bad_requests_are_a_400_with_the_reason(client_for, project, lead, body, message):
    response = client_for(lead).post(f"/api/projects/{project.pk}/exports/", body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert not ExportJob.objects.exists()


def test_only_a_lead_exports_an_annotator_gets_403_an_outsider_404(
    client_for, project, lead, annotator, reviewer, outsider
):
    job = ExportJob.objects.create(project=project, created_by=lead, format="csv")
    urls = [
        f"/api/projects/{project.pk}/exports/",
        f"/api/exports/{job.pk}/",
        f"/api/exports/{job.pk}/download",
    ]
    for user, code in ((annotator, 403), (reviewer, 403), (outsider, 404)):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code == code, (user.username, url)
        post = client.post(urls[0], {"format": "csv"}, format="json")
        assert post.status_code == code
    assert ExportJob.objects.count() == 1
    assert client_for(None).get(urls[1]).status_code in (401, 403)


# --- Page ----------------------------------------------------------------------------------


def test_the_exports_page_is_for_leads_and_linked_from_the_project(
    client, project, labels, lead, annotator
):
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/exports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="start-export"' in html and "animals/birds/robin" in html
    assert (
        f'href="/projects/{project.pk}/exports/"'
        in client.get(f"/projects/{project.pk}/").content.decode()
    )
    client.force_login(annotator)
    assert client.get(f"/projects/{project.pk}/exports/").status_code == 403
    assert "/exports/" not in client.get(f"/projects/{project.pk}/").content.decode()


# --- Command -------------------------------------------------------------------------------


def test_the_command_writes_a_file_with_a_progress_line(project, labeled, tmp_path):
    out_file = tmp_path / "tasks.json"
    err = io.StringIO()
    call_command("export", "Birds", "--format", "label_studio", "--out", str(out_file), stderr=err)
    tasks = json.loads(out_file.read_text())
    assert len(tasks) == 4
    assert "exporting 4/4 (100%)" in err.getvalue()
    assert "'Birds'" in err.getvalue() and '"tasks": 4' in err.getvalue()
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]  # no temporary left over


def test_the_command_writes_to_stdout_with_filters_and_options(project, speakers, tmp_path):
    out = io.StringIO()
    call_command(
        "export",
        str(project.pk),
        "--format",
        "manifest",
        "--group-by",
        "speaker",
        "--label",
        "noise",
        "--quiet",
        stdout=out,
        stderr=io.StringIO(),
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 20 and {r["labels"] for r in rows} == {"noise"}


def test_the_command_refuses_bad_input_and_leaves_no_file(project, labels, tmp_path):
    out_file = tmp_path / "x.csv"
    with pytest.raises(CommandError, match="no project with id or name 'Nope'"):
        call_command("export", "Nope", "--format", "csv")
    with pytest.raises(CommandError, match="unknown status 'lost'"):
        call_command(
            "export", "Birds", "--format", "csv", "--status", "lost", "--out", str(out_file)
        )
    with pytest.raises(CommandError, match="does not apply to csv"):
        call_command("export", "Birds", "--format", "csv", "--group-by", "speaker")
    assert not list(tmp_path.iterdir())


@pytest.mark.django_db(transaction=True)
def test_an_export_writes_its_progress_while_others_write(project, monkeypatch):
    """Between two pages of clips another connection writes (an annotator's autosave), then
    the export writes its progress: on SQLite that write failed at once ("database is locked")
    while the export read its clips from one open cursor."""
    import threading

    from django.db import connection

    from tests.conftest import ready_clips

    monkeypatch.setattr(export_common, "CHUNK", 2)
    clips = ready_clips(project, 5)

    def autosave(n: int) -> None:
        Clip.objects.filter(pk=clips[0].pk).update(original_name=f"saved-{n}.wav")
        connection.close()

    progress = []

    def on_progress(done: int, total: int) -> None:
        other = threading.Thread(target=autosave, args=(done,))
        other.start()
        other.join()
        ExportJob.objects.filter(project=project).update(done=done)  # the job's own write
        progress.append(done)

    out = io.StringIO()
    export_write(out, project=project, format="csv", on_progress=on_progress)
    assert progress[-1] == 5 and len(progress) >= 4  # 0, a page of 2, 4, 5, the end
    assert out.getvalue().startswith("clip_id,")


def test_csv_cells_never_start_a_spreadsheet_formula(project, annotator):
    """A clip named "=2+3+cmd|calc!A0.wav" and a label "=HYPERLINK(...)" (a third party's
    dataset imported as it is) were written raw: a spreadsheet opening the export runs them.
    Such a cell starts with a quote; the JSON formats keep the names as they are."""
    label_get_or_create_path(ontology=project.ontology, path='=HYPERLINK("evil","x")')
    clip = _clip(project, "=2+3+cmd|calc!A0.wav")
    annotation_submit(clip=clip, user=annotator, clip_labels=['=HYPERLINK("evil","x")'])
    out = io.StringIO()
    export_write(out, project=project, format="csv")
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["original_name"] == "'=2+3+cmd|calc!A0.wav"
    assert row["label"] == '\'=HYPERLINK("evil","x")'
    rows, _ = _manifest(project)
    assert rows[0]["original_name"] == "'=2+3+cmd|calc!A0.wav"
    assert rows[0]["labels"].startswith("'=")
    out = io.StringIO()
    export_write(out, project=project, format="earmark")
    assert '"=2+3+cmd|calc!A0.wav"' in out.getvalue()


def test_a_single_label_projects_exported_predictions_keep_segments_of_the_clips_label(
    project, labeled
):
    """In a single-label project the robin clip's "noise" segment prediction went to Label
    Studio beside its "robin" choice; in a multi-label one it stays."""

    def segment_labels():
        tasks = json.loads(_export(project, "label_studio"))
        task = next(t for t in tasks if t["data"]["original_name"] == "robin.wav")
        return [
            r["value"]["labels"]
            for p in task["predictions"]
            for r in p["result"]
            if r["type"] == "labels"
        ]

    assert segment_labels() == [["noise"]]
    Project.objects.filter(pk=project.pk).update(label_mode="single")
    project.refresh_from_db()
    assert segment_labels() == []


def test_a_reviewers_correction_is_said_in_csv_and_label_studio_exports(
    project, labels, lead, annotator, reviewer
):
    """A corrected annotation was exported as a plain "accepted", as if the annotator had
    said what the reviewer wrote; then a lead's later acceptance credited the lead with it."""
    from labelapp.models import Membership
    from labelapp.services.projects import membership_set
    from labelapp.services.review import annotation_review

    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    clip = _clip(project, "owl.wav", site="north")
    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["animals/birds/crow"])
    mine = annotation_review(
        annotation=mine,
        reviewer=reviewer,
        action="correct",
        clip_labels=["animals/birds/robin"],
        expected_version=mine.version,
    )
    (row,) = csv.DictReader(io.StringIO(_export(project, "csv")))
    assert (row["label"], row["status"]) == ("animals/birds/robin", "accepted")
    assert (row["reviewed_by"], row["corrected_by"]) == (reviewer.username, reviewer.username)
    annotation_review(
        annotation=mine, reviewer=lead, action="accept", expected_version=mine.version
    )
    (row,) = csv.DictReader(io.StringIO(_export(project, "csv")))
    assert (row["reviewed_by"], row["corrected_by"]) == (lead.username, reviewer.username)
    (task,) = json.loads(_export(project, "label_studio"))
    said = task["annotations"][0]["earmark"]
    assert said["reviewed_by"] == lead.username and said["corrected_by"] == reviewer.username
    # submitted again by its annotator: their labels, and no reviewer's word on them yet
    annotation_submit(
        clip=clip, user=annotator, clip_labels=["animals/birds/crow"], replace_reviewed=True
    )
    (row,) = csv.DictReader(io.StringIO(_export(project, "csv")))
    assert (row["label"], row["status"]) == ("animals/birds/crow", "submitted")
    assert (row["reviewed_by"], row["corrected_by"]) == ("", "")
    (task,) = json.loads(_export(project, "label_studio"))
    said = task["annotations"][0]["earmark"]
    assert said["reviewed_by"] is None and said["corrected_by"] is None
