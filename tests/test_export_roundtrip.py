"""Round trip: what Earmark exports as Label Studio JSON, Earmark imports back to the same
annotations, label by label and segment by segment, with the same annotators."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from labelapp.models import Annotation, Clip
from labelapp.services.annotations import annotation_skip, annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from labelapp.services.projects import membership_set, project_create
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db

PATHS = (
    "animals/birds/robin",
    "animals/birds/crow",
    "animals/dog",
    "noise",
    "weather/rain",
    "weather/wind",
)


@pytest.fixture
def project_a(project, annotator, lead, wav_factory):
    for path in PATHS:
        label_get_or_create_path(ontology=project.ontology, path=path)
    clips = {}
    for name, channels in (("robin.wav", 1), ("stereo-dog.wav", 2), ("wind.wav", 1)):
        path = wav_factory(name, seconds=3.0, channels=channels)
        outcome = clip_import(project=project, item=ImportItem(name=name, path=path))
        assert outcome.status == "imported", outcome.error
        clips[name] = Clip.objects.get(pk=outcome.clip_id)
    robin, dog, wind = clips["robin.wav"], clips["stereo-dog.wav"], clips["wind.wav"]
    annotation_submit(
        clip=robin,
        user=annotator,
        clip_labels=["animals/birds/robin", "weather/rain"],
        segments=[
            {"start": 0.25, "end": 1.5, "labels": ["animals/birds/robin"]},
            {"start": 1.0, "end": 2.75, "labels": ["animals/birds/robin", "noise"]},
        ],
    )
    annotation_submit(clip=robin, user=lead, clip_labels=["animals/birds/crow"])
    accepted = annotation_submit(
        clip=dog,
        user=annotator,
        segments=[
            {"start": 0.5, "end": 1.0, "channel": 1, "labels": ["animals/dog"]},
            {"start": 2.0, "end": 3.0, "channel": 0, "labels": ["noise"]},
        ],
    )
    Annotation.objects.filter(pk=accepted.pk).update(status=Annotation.Status.ACCEPTED)
    annotation_skip(clip=wind, user=annotator)
    annotation_submit(clip=wind, user=lead, clip_labels=["weather/wind"])
    model = ModelVersion.objects.create(
        project=project, version=1, name="v1", status=ModelVersion.Status.ACTIVE
    )
    robin_label = label_get_or_create_path(ontology=project.ontology, path="animals/birds/robin")
    Prediction.objects.create(
        clip=robin, model_version=model, clip_scores={str(robin_label[0].pk): 0.8}, score=0.8
    )
    return project


def _annotations(project) -> dict:
    """{(clip name, annotator): (status, source-independent content)} of a project."""
    out = {}
    for ann in Annotation.objects.filter(clip__project=project).select_related("clip", "annotator"):
        segments = sorted(
            (
                s.start,
                s.end,
                s.channel,
                tuple(sorted(sl.label.path for sl in s.segment_labels.all())),
            )
            for s in ann.segments.all()
        )
        labels = sorted(cl.label.path for cl in ann.clip_labels.all())
        out[(ann.clip.original_name, ann.annotator.username)] = (ann.status, labels, segments)
    return out


def _export_tasks(project, folder) -> str:
    tasks = folder / "tasks.json"
    call_command(
        "export",
        str(project.pk),
        "--format",
        "label_studio",
        "--out",
        str(tasks),
        stderr=io.StringIO(),
    )
    return str(tasks)


def test_label_studio_export_imports_back_to_the_same_annotations(
    project_a, lead, annotator, tmp_path
):
    # the audio files lie beside the task list under their original names (wav_factory
    # wrote them into tmp_path), as after downloading an export next to the originals
    tasks = _export_tasks(project_a, tmp_path)
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    membership_set(project=project_b, user=annotator, role="annotator")
    out = io.StringIO()
    call_command("import_audio", "Birds again", tasks, stdout=out, stderr=io.StringIO())
    assert "3 imported" in out.getvalue()

    a, b = _annotations(project_a), _annotations(project_b)
    assert set(b) == set(a)
    for key in a:
        assert b[key] == a[key], key
    assert a[("wind.wav", annotator.username)] == ("skipped", [], [])
    assert a[("stereo-dog.wav", annotator.username)][0] == "accepted"
    assert not Annotation.objects.filter(
        clip__project=project_b, annotator__username=settings.EARMARK_SYSTEM_USERNAME
    ).exists()
    assert all(
        ann.source == "imported" for ann in Annotation.objects.filter(clip__project=project_b)
    )
    for clip_a in Clip.objects.filter(project=project_a):
        clip_b = Clip.objects.get(project=project_b, original_name=clip_a.original_name)
        assert clip_b.sha256 == clip_a.sha256 and clip_b.channels == clip_a.channels
        assert "earmark_clip_id" not in clip_b.metadata
    (pred,) = Prediction.objects.filter(clip__project=project_b)
    # Another project's "v1" comes in under a name of its own: this project's first model
    # will be its own v1.
    assert pred.clip.original_name == "robin.wav"
    assert pred.model_version.name == "v1 (imported)"
    assert pred.score == 0.8
    (label_id,) = pred.clip_scores
    assert project_b.ontology.labels.get(pk=int(label_id)).path == "animals/birds/robin"


def _robin_into_a_new_project(project_a, lead, tmp_path, *, keep) -> dict:
    """robin.wav's task of an export, with the annotations of the annotators `keep` says,
    imported into a new project of which the lead alone is a member; its annotations."""
    tasks = json.loads(Path(_export_tasks(project_a, tmp_path)).read_text())
    (robin,) = [t for t in tasks if t["data"]["original_name"] == "robin.wav"]
    robin["annotations"] = [a for a in robin["annotations"] if keep(a["earmark"]["annotator"])]
    path = tmp_path / "one.json"
    path.write_text(json.dumps([robin]))
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    call_command(
        "import_audio", "Birds again", str(path), stdout=io.StringIO(), stderr=io.StringIO()
    )
    return _annotations(project_b)


def test_annotators_unknown_to_the_new_project_go_to_the_import_user(
    project_a, lead, annotator, tmp_path
):
    # only robin.wav, and only the annotator's work: they are not a member of project B
    b = _robin_into_a_new_project(
        project_a, lead, tmp_path, keep=lambda who: who == annotator.username
    )
    expected = _annotations(project_a)[("robin.wav", annotator.username)]
    assert b == {("robin.wav", settings.EARMARK_SYSTEM_USERNAME): expected}


def test_a_rejected_annotation_of_someone_unknown_is_not_merged_into_training_labels(
    project_a, lead, annotator, make_user, tmp_path
):
    """Without its annotators as members, a clip's annotations merge into the system user's
    one, which counts as submitted work: a rejected one's labels would become training
    labels."""
    robin_a = Clip.objects.get(project=project_a, original_name="robin.wav")
    other = make_user("olga")
    membership_set(project=project_a, user=other, role="annotator")
    rejected = annotation_submit(clip=robin_a, user=other, clip_labels=["weather/wind"])
    Annotation.objects.filter(pk=rejected.pk).update(status=Annotation.Status.REJECTED)
    b = _robin_into_a_new_project(project_a, lead, tmp_path, keep=lambda who: who != lead.username)
    # the annotator's submitted work only, not olga's rejected wind (the export had both)
    expected = _annotations(project_a)[("robin.wav", annotator.username)]
    assert b == {("robin.wav", settings.EARMARK_SYSTEM_USERNAME): expected}
    assert "weather/wind" not in expected[1]


def test_an_export_without_its_audio_beside_it_says_where_the_files_go(project_a, lead, tmp_path):
    """ "audio: file not found: /api/clips/301/audio" gave no hint of the fix."""
    from labelapp.services.manifests import items_from_label_studio

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tasks = Path(_export_tasks(project_a, tmp_path))
    moved = elsewhere / tasks.name
    tasks.rename(moved)
    items = items_from_label_studio(moved)
    assert items and all(item.error for item in items)
    robin = next(item for item in items if "robin.wav" in item.error)
    assert "is an Earmark server's URL: put 'robin.wav' beside the task file" in robin.error
    assert str(elsewhere) in robin.error


def test_a_file_found_by_name_that_is_not_the_tasks_audio_is_refused(
    project_a, lead, tmp_path, wav_factory
):
    """Two clips named alike (two folders' samename.wav) took the one file of that name
    beside the export: one clip's labels landed on the other's audio. The task's
    meta.sha256 decides; the other file is refused, saying why."""
    from labelapp.services.manifests import items_from_label_studio

    other = tmp_path / "other"
    other.mkdir()
    twin = wav_factory("other/robin.wav", seconds=1.0, freq=1234)  # robin.wav, other audio
    assert twin.parent == other
    tasks = Path(_export_tasks(project_a, tmp_path))
    moved = other / tasks.name
    tasks.rename(moved)
    items = items_from_label_studio(moved)
    robin = next(item for item in items if "robin.wav" in (item.error or item.name))
    assert "robin.wav beside the task file is not this task's audio" in robin.error
    assert "meta.sha256" in robin.error


def test_a_label_deprecated_since_still_imports_from_the_projects_own_export(
    project_a, lead, annotator, tmp_path
):
    """After 'noise' was deprecated, the project's own export (its label tree, then its
    tasks) did not import into a new project: every clip with noise was rejected, its other
    labels with it. Deprecated means not chosen anew; imported history keeps it."""
    from ontology.models import Label
    from ontology.services import label_deprecate

    label_deprecate(label=Label.objects.get(ontology=project_a.ontology, path="noise"))
    tree = tmp_path / "tree.json"
    call_command("export_ontology", str(project_a.pk), "--out", str(tree), stdout=io.StringIO())
    tasks = _export_tasks(project_a, tmp_path)
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    membership_set(project=project_b, user=annotator, role="annotator")
    call_command("import_ontology", "Birds again", str(tree), stdout=io.StringIO())
    assert Label.objects.get(ontology=project_b.ontology, path="noise").deprecated
    out = io.StringIO()
    call_command("import_audio", "Birds again", tasks, stdout=out, stderr=io.StringIO())
    assert "3 imported" in out.getvalue(), out.getvalue()
    assert _annotations(project_b) == _annotations(project_a)


def test_importing_a_changed_file_again_says_whose_annotation_is_left_as_it_is(
    project_a, lead, annotator, tmp_path
):
    """A file imported again with a member's labels changed said only "duplicate": the
    change was dropped without a word (an import never overwrites a member's work)."""
    tasks_path = Path(_export_tasks(project_a, tmp_path))
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    membership_set(project=project_b, user=annotator, role="annotator")
    call_command("import_audio", "Birds again", str(tasks_path), stdout=io.StringIO())
    before = _annotations(project_b)
    tasks = json.loads(tasks_path.read_text())
    (robin,) = [t for t in tasks if t["data"]["original_name"] == "robin.wav"]
    mine = next(a for a in robin["annotations"] if a["earmark"]["annotator"] == annotator.username)
    mine["result"] = [r for r in mine["result"] if r["type"] != "labels"]  # segments gone
    tasks_path.write_text(json.dumps(tasks))
    out = io.StringIO()
    call_command("import_audio", "Birds again", str(tasks_path), stdout=out, stderr=io.StringIO())
    report = out.getvalue()
    assert f"{annotator.username}'s annotation here differs from the file's" in report, report
    assert report.count("differs from the file's") == 1  # the unchanged ones say nothing
    assert _annotations(project_b) == before


def test_a_members_reviewed_annotation_keeps_its_reviewer_and_reason(
    project_a, lead, annotator, reviewer, tmp_path
):
    """Through Label Studio JSON a member's accepted and rejected annotations came back
    reviewed by nobody, and the rejection without its reason."""
    from labelapp.services.review import annotation_review

    membership_set(project=project_a, user=reviewer, role="reviewer")
    robin = Annotation.objects.get(clip__original_name="robin.wav", annotator=annotator)
    annotation_review(
        annotation=robin, reviewer=reviewer, action="reject", comment="a crow, not a robin",
        expected_version=robin.version,
    )  # fmt: skip
    wind = Annotation.objects.get(clip__original_name="wind.wav", annotator=lead)
    annotation_review(
        annotation=wind, reviewer=reviewer, action="accept", expected_version=wind.version
    )
    tasks = _export_tasks(project_a, tmp_path)
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    for user, role in ((annotator, "annotator"), (reviewer, "reviewer")):
        membership_set(project=project_b, user=user, role=role)
    call_command("import_audio", "Birds again", tasks, stdout=io.StringIO())
    b = {
        (a.clip.original_name, a.annotator.username): a
        for a in Annotation.objects.filter(clip__project=project_b).select_related("clip")
    }
    rejected = b[("robin.wav", annotator.username)]
    assert (rejected.status, rejected.reviewed_by, rejected.review_comment) == (
        "rejected", reviewer, "a crow, not a robin",
    )  # fmt: skip
    src = Annotation.objects.get(pk=robin.pk)
    assert rejected.reviewed_at == src.reviewed_at
    accepted = b[("wind.wav", lead.username)]
    assert (accepted.status, accepted.reviewed_by) == ("accepted", reviewer)


def test_the_earmark_json_export_gives_its_label_tree_and_says_what_reads_its_clips(
    project_a, lead, tmp_path
):
    """The file the exports page calls "Earmark JSON" was "unrecognized JSON" to the label
    tree's import, and "expected a list of Label Studio tasks" to import_audio."""
    from labelapp.errors import DomainError
    from labelapp.services.manifests import items_from_label_studio
    from ontology.models import Label
    from ontology.services import label_attributes_set

    label_attributes_set(
        label=Label.objects.get(ontology=project_a.ontology, path="noise"), hotkey="n"
    )
    doc = tmp_path / "project.json"
    call_command(
        "export", str(project_a.pk), "--format", "earmark", "--out", str(doc),
        stderr=io.StringIO(),
    )  # fmt: skip
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    call_command("import_ontology", "Birds again", str(doc), stdout=io.StringIO())
    paths = lambda p: sorted(  # noqa: E731
        Label.objects.filter(ontology=p.ontology).values_list("path", "hotkey")
    )
    assert paths(project_b) == paths(project_a)
    with pytest.raises(DomainError, match="is an Earmark JSON export: import_audio reads"):
        items_from_label_studio(doc)


def test_an_imported_review_names_a_reviewer_only_and_a_bad_time_does_not_stop_the_import(
    project_a, lead, annotator, tmp_path
):
    """An import recorded an annotator as the reviewer of their own work; a review time out
    of range ("9999-12-31T23:59:59-23:59") stopped the whole import; a naive one warned."""
    tasks_path = Path(_export_tasks(project_a, tmp_path))
    tasks = json.loads(tasks_path.read_text())
    (robin,) = [t for t in tasks if t["data"]["original_name"] == "robin.wav"]
    (wind,) = [t for t in tasks if t["data"]["original_name"] == "wind.wav"]
    mine = next(a for a in robin["annotations"] if a["earmark"]["annotator"] == annotator.username)
    mine["earmark"].update(
        status="rejected", reviewed_by=annotator.username, review_comment="self",
        reviewed_at="9999-12-31T23:59:59-23:59",
    )  # fmt: skip
    leads = next(a for a in wind["annotations"] if a["earmark"]["annotator"] == lead.username)
    leads["earmark"].update(
        status="accepted", reviewed_by=annotator.username, reviewed_at="2020-01-01T00:00:00"
    )
    tasks_path.write_text(json.dumps(tasks))
    project_b = project_create(name="Birds again", created_by=lead, label_mode="multi")
    membership_set(project=project_b, user=annotator, role="annotator")
    out = io.StringIO()
    call_command("import_audio", "Birds again", str(tasks_path), stdout=out, stderr=io.StringIO())
    assert "3 imported" in out.getvalue(), out.getvalue()
    b = {
        (a.clip.original_name, a.annotator.username): a
        for a in Annotation.objects.filter(clip__project=project_b).select_related("clip")
    }
    rejected = b[("robin.wav", annotator.username)]
    assert (rejected.status, rejected.reviewed_by, rejected.review_comment) == (
        "rejected",
        None,
        "self",
    )
    assert rejected.reviewed_at is not None  # the time it was imported
    accepted = b[("wind.wav", lead.username)]
    assert accepted.reviewed_by is None  # an annotator there, no reviewer
    assert accepted.reviewed_at.year == 2020
