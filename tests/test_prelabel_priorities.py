"""Priority writes of the ranker: one UPDATE ... FROM (VALUES ...) per chunk, on SQLite and
PostgreSQL alike, touching only the clips it is given."""

from __future__ import annotations

import numpy as np
import pytest

from labelapp.models import Clip
from ml_backend import prelabel


def _clips(project, n: int) -> list[int]:
    Clip.objects.bulk_create(
        Clip(
            project=project,
            file=f"clips/x/{i}.wav",
            sha256=f"{i:064x}",
            original_name=f"{i}.wav",
            status=Clip.Status.READY,
            priority=-1.0,
        )
        for i in range(n)
    )
    return list(Clip.objects.filter(project=project).order_by("id").values_list("pk", flat=True))


@pytest.mark.django_db
def test_priorities_are_written_per_clip_across_chunks(project, monkeypatch):
    monkeypatch.setattr(prelabel, "PRIORITY_CHUNK", 7)  # several chunks and a partial one
    ids = _clips(project, 30)
    chosen = ids[:25]
    priorities = np.random.default_rng(0).random(25) * 10
    prelabel._write_priorities(chosen, priorities)
    got = dict(Clip.objects.filter(project=project).values_list("pk", "priority"))
    for clip_id, p in zip(chosen, priorities, strict=True):
        assert got[clip_id] == pytest.approx(float(p))
    assert [got[i] for i in ids[25:]] == [-1.0] * 5  # clips not given keep their priority


@pytest.mark.django_db
def test_the_queue_order_follows_the_written_priorities(project):
    ids = _clips(project, 5)
    prelabel._write_priorities(ids, np.array([0.1, 0.9, 0.5, 1e6 + 1, 0.3]))
    order = list(
        Clip.objects.filter(project=project)
        .order_by("-priority", "id")
        .values_list("pk", flat=True)
    )
    assert order == [ids[3], ids[1], ids[2], ids[4], ids[0]]


def _version(project, n: int, status: str):
    from ml_backend.models import ModelVersion

    return ModelVersion.objects.create(
        project=project, version=n, name=f"v{n}", status=status, artifact_path=f"models/v{n}.pt"
    )


@pytest.mark.django_db
def test_a_run_queued_for_a_version_already_replaced_stops_without_scoring(project, monkeypatch):
    from ml_backend.models import PrelabelRun

    _clips(project, 3)
    old, _new = _version(project, 1, "retired"), _version(project, 2, "active")
    monkeypatch.setattr(prelabel, "score_clips", lambda *a, **k: pytest.fail("scored"))
    run = PrelabelRun.objects.create(project=project, model_version=old)
    assert prelabel.prelabel_execute(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == PrelabelRun.Status.CANCELLED and run.finished_at is not None
    assert "v2 replaced v1" in run.error


@pytest.mark.django_db
def test_a_run_goes_on_when_a_newer_version_becomes_active_and_its_ranking_stands(
    project, monkeypatch
):
    """Labels may come faster than a ranking of the whole pool takes: a run stopped whenever
    a newer version arrived never finished, and the queue was never re-ranked. It finishes,
    and its ranking stands until the newer version's run replaces it."""
    from ml_backend.models import ModelVersion, PrelabelRun

    ids = _clips(project, 600)
    v1 = _version(project, 1, "active")
    batches: list[int] = []

    def scoring(project_, version, clip_ids, *, progress, seed, before_priorities):
        assert version == v1 and clip_ids == ids
        for done in range(256, len(clip_ids) + 256, 256):
            if done == 512:  # v2 is activated after the first batch
                ModelVersion.objects.filter(pk=v1.pk).update(status="retired")
                _version(project, 2, "active")
            progress(min(done, len(clip_ids)))
            batches.append(done)
        before_priorities()
        prelabel._write_priorities(clip_ids, np.arange(len(clip_ids), dtype=float))

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    run = PrelabelRun.objects.create(project=project, model_version=v1)
    assert prelabel.prelabel_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert batches == [256, 512, 768] and run.done == 600 and run.total == 600
    assert run.status == PrelabelRun.Status.SUCCEEDED
    assert Clip.objects.get(pk=ids[-1]).priority == 599.0


@pytest.mark.django_db
def test_priorities_are_not_written_once_a_newer_versions_ranking_is_in_place(project, monkeypatch):
    from ml_backend.models import ModelVersion, PrelabelRun

    ids = _clips(project, 3)
    v1 = _version(project, 1, "active")
    written: list[int] = []

    def scoring(project_, version, clip_ids, *, progress, seed, before_priorities):
        progress(len(clip_ids))
        ModelVersion.objects.filter(pk=v1.pk).update(status="retired")
        v2 = _version(project, 2, "active")
        PrelabelRun.objects.create(project=project, model_version=v2, status="succeeded")
        before_priorities()
        written.extend(clip_ids)

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    run = PrelabelRun.objects.create(project=project, model_version=v1)
    assert prelabel.prelabel_execute(run.pk) == "cancelled"
    assert written == [] and len(ids) == 3
    run.refresh_from_db()
    assert "v2's ranking is already in place" in run.error


@pytest.mark.django_db
def test_a_rollback_to_an_older_version_ranks_the_queue_after_the_newer_ones_ranking(
    project, client_for, lead, monkeypatch, django_capture_on_commit_callbacks
):
    """An exploratory tester's "Make active" on v2 after v3's ranking: the run stopped with
    "v3's ranking is already in place", and the queue kept v3's order under v2."""
    from ml_backend.models import PrelabelRun

    ids = _clips(project, 3)
    from ml_backend import training

    v2, v3 = _version(project, 2, "retired"), _version(project, 3, "active")
    PrelabelRun.objects.create(project=project, model_version=v3, status="succeeded")
    monkeypatch.setattr(training.default_storage, "exists", lambda name: True)
    scored = []

    def scoring(project_, version, clip_ids, *, progress, seed, before_priorities):
        progress(len(clip_ids))
        before_priorities()
        scored.append(version)
        prelabel._write_priorities(clip_ids, np.array([3.0, 2.0, 1.0]))

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    with django_capture_on_commit_callbacks(execute=True):  # the run, on a worker
        response = client_for(lead).post(f"/api/model-versions/{v2.pk}/activate/")
    assert response.status_code == 200, response.content
    run = PrelabelRun.objects.filter(model_version=v2).get()
    assert (run.status, run.error) == ("succeeded", "")
    assert scored == [v2]
    assert list(Clip.objects.order_by("-priority").values_list("pk", flat=True)) == ids


def test_hybrid_heads_the_queue_with_what_the_labeled_clips_do_not_cover():
    from ml_backend.uncertainty import get_strategy

    embeddings = np.array([[10.0, 0.0], [0.0, 6.0], [0.0, 0.0], [1.0, 1.0]])
    probs = np.full((4, 2), 0.5)  # equally uncertain: diversity decides
    scores = np.zeros(4)
    alone = prelabel._priorities("hybrid", get_strategy("hybrid"), scores, probs, embeddings)
    assert int(np.argmax(alone)) == 0  # the point farthest from the pool's mean
    # A labeled clip next to it: the head moves to the clip farthest from every labeled one.
    covered = prelabel._priorities(
        "hybrid",
        get_strategy("hybrid"),
        scores,
        probs,
        embeddings,
        labeled_embeddings=np.array([[9.0, 0.0]]),
    )
    assert int(np.argmax(covered)) == 1
    assert (covered >= prelabel.PICKED_BASE).all()


def test_a_batch_of_diverse_picks_leaves_out_what_an_annotator_passed_on():
    """The two farthest clips were skipped: the picks take the others, and the skipped ones
    keep their place by score, below every pick."""
    from ml_backend.uncertainty import get_strategy

    embeddings = np.array([[10.0, 0.0], [9.0, 1.0], [0.0, 6.0], [0.0, 0.0], [1.0, 1.0]])
    probs = np.full((5, 2), 0.5)
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.3])
    for name in ("hybrid", "kcenter", "badge"):
        priorities = prelabel._priorities(
            name, get_strategy(name), scores, probs, embeddings, passed=np.array([0, 1])
        )
        assert (priorities[[0, 1]] == scores[[0, 1]]).all(), name
        assert (priorities[2:] >= prelabel.PICKED_BASE).all(), name


@pytest.mark.django_db
def test_the_ranker_finds_the_clips_an_annotator_skipped(project, annotator, lead):
    from labelapp.services.annotations import annotation_skip, annotation_submit
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    ids = _clips(project, 5)
    annotation_skip(clip=Clip.objects.get(pk=ids[0]), user=annotator)
    annotation_skip(clip=Clip.objects.get(pk=ids[3]), user=lead)
    annotation_submit(clip=Clip.objects.get(pk=ids[4]), user=annotator, clip_labels=["birds/robin"])
    # positions in the list it is given, whatever its order
    assert prelabel._passed_indices(project, ids).tolist() == [0, 3]
    assert prelabel._passed_indices(project, ids[::-1]).tolist() == [1, 4]
    assert prelabel._passed_indices(project, [ids[1], ids[4]]).tolist() == []


@pytest.mark.django_db
def test_one_run_of_a_project_at_a_time_the_next_waits_and_is_handed_over(
    project, other_project, monkeypatch
):
    """A run queued while another of its project runs waits (two would hold both workers and
    a training would wait for them); the running one starts it when it ends. Another
    project's run is not held back."""
    from django.utils import timezone

    from ml_backend.models import PrelabelRun

    _clips(project, 3)
    _clips(other_project, 2)
    v1 = _version(project, 1, "active")
    _version(other_project, 1, "active")
    order: list[int] = []
    first = PrelabelRun.objects.create(project=project, model_version=v1)
    second = PrelabelRun.objects.create(project=project, model_version=v1)
    elsewhere = PrelabelRun.objects.create(project=other_project)

    def scoring(project_, version, clip_ids, *, progress, seed, before_priorities):
        running = PrelabelRun.objects.get(project=project_, status="running").pk
        order.append(running)
        if running == first.pk:
            # while the first runs, the second is delivered: it must wait
            assert prelabel.prelabel_execute(second.pk) == "waiting"
            assert PrelabelRun.objects.get(pk=second.pk).status == "queued"
            assert prelabel.prelabel_execute(elsewhere.pk) == "succeeded"
        progress(len(clip_ids))

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    assert prelabel.prelabel_execute(first.pk) == "succeeded"
    # handed over as the first ended (tasks run inline in these tests)
    assert order == [first.pk, elsewhere.pk, second.pk]
    assert PrelabelRun.objects.get(pk=second.pk).status == "succeeded"
    assert PrelabelRun.objects.get(pk=first.pk).heartbeat_at <= timezone.now()


@pytest.mark.django_db
def test_a_run_whose_worker_died_holds_nothing_back_and_the_sweep_fails_it(project, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from ml_backend.models import PrelabelRun
    from ml_backend.training import trainings_sweep_stale

    _clips(project, 3)
    v1 = _version(project, 1, "active")
    silent = timezone.now() - prelabel.STALE_AFTER - timedelta(seconds=5)
    dead = PrelabelRun.objects.create(
        project=project, model_version=v1, status="running", heartbeat_at=silent
    )
    alive = PrelabelRun.objects.create(
        project=project, model_version=v1, status="running", heartbeat_at=timezone.now()
    )
    monkeypatch.setattr(
        prelabel, "score_clips", lambda p, v, ids, *, progress, seed, before_priorities: None
    )
    queued = PrelabelRun.objects.create(project=project, model_version=v1)
    assert prelabel.prelabel_execute(queued.pk) == "waiting"  # the live one holds it back
    v2 = _version(project, 2, "retired")
    replaced = PrelabelRun.objects.create(project=project, model_version=v2)
    assert prelabel.prelabel_execute(replaced.pk) == "cancelled"  # not active: no need to wait
    PrelabelRun.objects.filter(pk=alive.pk).update(status="succeeded")
    assert prelabel.prelabel_execute(queued.pk) == "succeeded"  # the dead one does not

    trainings_sweep_stale()
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped responding" in dead.error
    assert dead.finished_at is not None


@pytest.mark.django_db
def test_a_large_pools_ranking_writes_its_head_and_lowers_what_stood_above_it(project, monkeypatch):
    """Of a large pool only the head the queue serves before the next ranking is written, in
    its new order, and last ranking's clips above it are lowered; the others keep their
    priority, which is below the head's last."""
    monkeypatch.setattr(prelabel, "RANKING_HEAD", 5)
    ids = _clips(project, 20)
    old = np.linspace(0.0, 0.5, 20)
    old[[2, 3]] = [1e6 + 1, 1e6 + 2]  # last ranking's picks, not in the new head
    prelabel._write_priorities(ids, old)
    new = np.random.default_rng(3).random(20)
    new[[2, 3]] = [0.01, 0.02]
    head = [ids[i] for i in np.argsort(-new)[:5]]

    prelabel._write_ranking(project, ids, new)

    got = dict(Clip.objects.filter(project=project).values_list("pk", "priority"))
    queue = list(
        Clip.objects.filter(project=project)
        .order_by("-priority", "id")
        .values_list("pk", flat=True)
    )
    assert queue[:5] == head  # the new order at the head
    floor = min(got[i] for i in head)
    assert all(got[i] <= floor for i in ids if i not in head)
    assert (got[ids[2]], got[ids[3]]) == (pytest.approx(0.01), pytest.approx(0.02))  # lowered
    untouched = [i for k, i in enumerate(ids) if i not in head and k not in (2, 3)]
    assert floor > 0.5  # above every old priority but the picks'
    # the rest were not written: they keep last ranking's priorities
    assert [got[i] for i in untouched] == [pytest.approx(old[ids.index(i)]) for i in untouched]


@pytest.mark.django_db
def test_a_small_pools_ranking_is_written_whole(project):
    ids = _clips(project, 8)
    new = np.arange(8, dtype=float)
    prelabel._write_ranking(project, ids, new)
    got = dict(Clip.objects.filter(project=project).values_list("pk", "priority"))
    assert [got[i] for i in ids] == list(new)


@pytest.mark.django_db
def test_a_suggested_segment_ends_at_the_clip_and_can_be_accepted(project, annotator):
    """70 frames of 10 ms, the last ones reaching past the audio, on a clip of 0.682 s: the
    suggestion runs from 0.20 s to the clip's end, 0.68 s. Uncut it would end at 0.70 s, which
    the annotation refuses, so accepting the suggestion would fail."""
    from labelapp.errors import DomainError
    from labelapp.models import Membership
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.projects import membership_set
    from ontology.services import label_create
    from tests.conftest import ready_clips

    membership_set(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    label = label_create(ontology=project.ontology, name="tone")
    (clip,) = ready_clips(project, 1)
    Clip.objects.filter(pk=clip.pk).update(duration=0.682)
    clip.refresh_from_db()
    frames = np.zeros((70, 1))
    frames[20:, 0] = 0.9

    (seg,) = prelabel.suggested_segments(frames, 0.01, [label.pk], clip.duration)
    assert (seg["start"], seg["end"], seg["label"]) == (0.2, 0.68, label.pk)
    (uncut,) = prelabel.suggested_segments(frames, 0.01, [label.pk], 0.0)  # duration unknown
    assert uncut["end"] == 0.7
    with pytest.raises(DomainError, match="past the clip's end"):
        annotation_submit(
            clip=clip, user=annotator, segments=[{"start": 0.2, "end": 0.7, "labels": [label.pk]}]
        )

    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        segments=[{"start": seg["start"], "end": seg["end"], "labels": [seg["label"]]}],
    )
    assert annotation.segments.get().end == 0.682  # to the clip's end: ends there


def test_a_long_recording_gets_its_best_suggested_segments_only():
    """1,000 short events on a long clip: the 200 best-scored are suggested, in time order."""
    frames = np.zeros((100_000, 1))
    scores = np.random.default_rng(0).uniform(0.6, 0.99, 1000)
    for k, score in enumerate(scores):  # 0.2 s on, 0.8 s off
        frames[k * 100 : k * 100 + 20, 0] = score
    segs = prelabel.suggested_segments(frames, 0.01, [7], 1000.0)
    assert len(segs) == prelabel.MAX_SUGGESTED_SEGMENTS == 200
    assert [g["start"] for g in segs] == sorted(g["start"] for g in segs)
    kept = sorted(g["score"] for g in segs)
    assert kept[0] >= np.sort(np.round(scores, 4))[-200] - 1e-4


def test_two_runs_of_one_version_draw_the_same_random_choices(project, monkeypatch):
    """The random strategy's draws were seeded by the run's row id: two simulations of one
    pool, the same in every other way, gave the random baseline other curves."""
    from ml_backend import prelabel
    from ml_backend.models import PrelabelRun

    _clips(project, 2)
    v1 = _version(project, 1, "active")
    seeds: list[int] = []

    def scoring(project_, version, clip_ids, *, progress, seed, before_priorities):
        seeds.append(seed)
        progress(len(clip_ids))

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    for _ in range(2):
        run = PrelabelRun.objects.create(project=project, model_version=v1)
        assert prelabel.prelabel_execute(run.pk) == "succeeded"
    v1.status = "retired"
    v1.save()
    v2 = _version(project, 2, "active")
    run = PrelabelRun.objects.create(project=project, model_version=v2)
    assert prelabel.prelabel_execute(run.pk) == "succeeded"
    assert seeds[0] == seeds[1] != seeds[2]


@pytest.mark.django_db
def test_the_random_strategy_draws_anew_for_each_batch_of_clips(project, monkeypatch):
    """Each batch of 256 drew the same values: clips 256 apart shared their random score."""
    from ml_backend import dataset, infer, inference
    from ml_backend.features import FeatureConfig
    from ml_backend.models import MLConfig, Prediction

    monkeypatch.setattr(prelabel, "BATCH", 4)
    from ontology.services import label_get_or_create_path

    ids = _clips(project, 8)
    version = _version(project, 1, "active")
    version.classes = [
        label_get_or_create_path(ontology=project.ontology, path=p)[0].pk for p in ("a", "b")
    ]
    version.save()
    MLConfig.objects.update_or_create(project=project, defaults={"strategy": "random"})
    project.annotation_mode = "clip"
    project.save()
    monkeypatch.setattr(
        inference,
        "load_version",
        lambda v: (None, {"classes": [], "multi_label": False}, FeatureConfig()),
    )
    monkeypatch.setattr(dataset, "clips_features", lambda clips, *a, **k: [None] * len(clips))
    monkeypatch.setattr(
        infer,
        "predict_batch",
        lambda model, feats, *a, **k: {
            "clip_probs": np.full((len(feats), 2), 0.5),
            "mc_probs": None,
            "frame_probs": None,
            "embeddings": np.zeros((len(feats), 4)),
        },
    )
    prelabel.score_clips(project, version, ids, diversity=False, seed=1)
    drawn = list(Prediction.objects.order_by("clip_id").values_list("uncertainty", flat=True))
    assert len(drawn) == 8 and drawn[:4] != drawn[4:]
    # the same version draws the same values again (a simulation's baseline is repeatable)
    prelabel.score_clips(project, version, ids, diversity=False, seed=1)
    again = Prediction.objects.order_by("clip_id").values_list("uncertainty", flat=True)
    assert list(again) == drawn
