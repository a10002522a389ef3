"""`simulate_al` replays the labeling loop with an oracle and writes learning curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import CommandError, call_command

from labelapp.models import Annotation, Clip, Project
from labelapp.services.projects import project_create
from ml_backend.models import MLConfig, TrainingRun
from ml_backend.prelabel import PICKED_BASE
from ontology.services import label_create

pytestmark = pytest.mark.django_db(transaction=True)

SR = 8000
TONES = {"low": 300.0, "mid": 1100.0, "high": 2900.0}  # Hz, one class each


def _tone_manifest(folder: Path, name: str, per_class: int, seed: int) -> Path:
    """Half-second tones with jittered pitch and noise, and a CSV naming their class."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, freq in TONES.items():
        for i in range(per_class):
            t = np.arange(int(0.5 * SR)) / SR
            f = freq * rng.uniform(0.93, 1.07)
            audio = 0.4 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(len(t))
            path = folder / f"{name}-{label}-{i}.wav"
            sf.write(path, audio.astype(np.float32), SR, subtype="PCM_16")
            rows.append({"audio": path.name, "labels": label})
    manifest = folder / f"{name}.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["audio", "labels"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture
def tones_project(lead):
    project = project_create(name="Tones", created_by=lead, target_sample_rate=SR)
    for name in TONES:
        label_create(ontology=project.ontology, name=name)
    MLConfig.objects.update_or_create(project=project, defaults={"epochs": 1})
    return project


@pytest.fixture
def few_steps(monkeypatch):
    # Training's floor of optimizer steps is for real label sets; tones need a handful.
    monkeypatch.setattr("ml_backend.training.MIN_STEPS", 8)


@pytest.mark.slow  # eight real trainings: about a minute on two cores
def test_it_writes_learning_curves_for_each_strategy_and_the_random_baseline(
    tones_project, few_steps, tmp_path, client_for, lead
):
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=8, seed=1)
    test = _tone_manifest(tmp_path / "test", "test", per_class=3, seed=2)
    out = tmp_path / "out"

    call_command(
        "simulate_al",
        str(tones_project.pk),
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "margin",
        "--seed-size", "6",
        "--batch", "5",
        "--budget", "11",
        "--repeats", "2",
        "--out", str(out),
    )  # fmt: skip

    result = json.loads((out / "learning_curves.json").read_text())
    assert set(result["strategies"]) == {"margin", "random"}
    assert result["pool_size"] == 24 and result["test_size"] == 9
    for data in result["strategies"].values():
        assert len(data["repeats"]) == 2
        for points in data["repeats"]:
            assert [p["labels"] for p in points] == [6, 11]
            for p in points:
                assert 0.0 <= p["accuracy"] <= 1.0
                assert 0.0 <= p["macro_f1"] <= 1.0
                assert p["model_version"].startswith("v")
        assert [p["labels"] for p in data["mean"]] == [6, 11]
        assert all(p["n"] == 2 and 0.0 <= p["accuracy"] <= 1.0 for p in data["mean"])
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The curves are on the project's model page; the throwaway projects are gone.
    tones_project.refresh_from_db()
    assert MLConfig.objects.get(project=tones_project).learning_curves == result
    answer = client_for(lead).get(f"/api/projects/{tones_project.pk}/model/")
    assert answer.status_code == 200
    assert set(answer.json()["config"]["learning_curves"]["strategies"]) == {"margin", "random"}
    assert list(Project.objects.values_list("pk", flat=True)) == [tones_project.pk]
    assert not Clip.objects.exists()
    assert not TrainingRun.objects.exists()


@pytest.mark.slow
def test_it_trains_and_ranks_with_the_worker_code_in_each_round(tones_project, few_steps, tmp_path):
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=4, seed=3)
    test = _tone_manifest(tmp_path / "test", "test", per_class=2, seed=4)

    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "random",
        "--seed-size", "6",
        "--batch", "3",
        "--budget", "9",
        "--repeats", "1",
        "--out", str(tmp_path / "out"),
        "--keep",
    )  # fmt: skip

    sim = Project.objects.exclude(pk=tones_project.pk).get()
    runs = list(TrainingRun.objects.filter(project=sim).order_by("pk"))
    assert [(r.trigger, r.status) for r in runs] == [("simulate", "succeeded")] * 2
    # The oracle answered 9 clips through the annotation service; the rest await.
    assert Clip.objects.filter(project=sim, annotation_count=1).count() == 9
    assert sim.prelabel_runs.filter(status="succeeded").count() == 2
    assert sim.model_versions.filter(status="active").count() == 1


def test_first_repeat_numbers_the_runs_so_a_later_simulation_adds_new_ones(
    tones_project, few_steps, tmp_path
):
    """Run k labels the pool in the import order of `random.Random(k)` (the baseline labels in
    import order): `--first-repeat 2` is run 2 of a longer simulation, not run 0 again."""
    import random

    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=4, seed=3)
    test = _tone_manifest(tmp_path / "test", "test", per_class=1, seed=4)
    with open(pool, newline="") as fh:
        names = [row["audio"] for row in csv.DictReader(fh)]
    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "random",
        "--seed-size", "6",
        "--budget", "6",
        "--repeats", "1",
        "--first-repeat", "2",
        "--out", str(tmp_path / "out"),
        "--keep",
    )  # fmt: skip

    sim = Project.objects.exclude(pk=tones_project.pk).get()
    assert " #2 " in sim.name
    order = list(range(len(names)))
    random.Random(2).shuffle(order)
    labeled = Clip.objects.filter(project=sim, annotation_count=1)
    assert {c.original_name for c in labeled} == {names[i] for i in order[:6]}
    result = json.loads((tmp_path / "out" / "learning_curves.json").read_text())
    assert result["settings"]["first_repeat"] == 2
    with pytest.raises(CommandError, match=r"the seed size \(6\) is more than the budget \(5\)"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--seed-size", "6", "--budget", "5", "--out", str(tmp_path / "out3"),
        )  # fmt: skip
    with pytest.raises(CommandError, match="cannot read the manifest"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(tmp_path / "nope.csv"),
            "--test-manifest", str(pool), "--out", str(tmp_path / "out4"),
        )  # fmt: skip
    with pytest.raises(CommandError, match="a file is there; name a folder"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--out", str(pool),
        )  # fmt: skip
    with pytest.raises(CommandError, match="cannot write there"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--out", "/proc/earmark-sim",
        )  # fmt: skip
    with pytest.raises(CommandError, match="first repeat"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--first-repeat", "-1", "--out", str(tmp_path / "out2"),
        )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["hybrid", "kcenter"])
def test_diversity_keeps_its_picks_away_from_the_clips_already_labeled(
    strategy, tones_project, few_steps, tmp_path, monkeypatch
):
    from ml_backend import prelabel
    from ml_backend.dataset import clips_features
    from ml_backend.features import FeatureConfig
    from ml_backend.infer import predict_batch
    from ml_backend.inference import load_model
    from ml_backend.uncertainty import STRATEGIES

    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=4, seed=3)
    test = _tone_manifest(tmp_path / "test", "test", per_class=2, seed=4)
    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", strategy,
        "--seed-size", "6",
        "--batch", "3",
        "--budget", "6",
        "--repeats", "1",
        "--out", str(tmp_path / "out"),
        "--keep",
    )  # fmt: skip
    sim = Project.objects.get(name__contains=f"simulate {strategy} ")
    version = sim.model_versions.get(status="active")
    labeled = list(Clip.objects.filter(project=sim, annotation_count=1).order_by("-id"))
    unlabeled = list(
        Clip.objects.filter(project=sim, annotation_count=0).values_list("pk", flat=True)
    )
    assert len(labeled) == 6 and len(unlabeled) == 6
    model, _config, extra = load_model(version.artifact_path)
    config = FeatureConfig.from_dict(version.feature_config or extra["feature"])
    expected = predict_batch(model, clips_features(labeled, config), config)["embeddings"]

    strat = type(STRATEGIES[strategy])
    original = strat.select
    centers: list[np.ndarray | None] = []

    def spy(self, k, probs=None, **inputs):
        centers.append(inputs.get("labeled_embeddings"))
        picks = original(self, k, probs, **inputs)
        # The first pick is the candidate farthest from every labeled clip.
        emb = inputs["embeddings"]
        far = ((emb[:, None, :] - expected[None, :, :]) ** 2).sum(-1).min(axis=1)
        if strategy == "kcenter":
            assert picks[0] == int(np.argmax(far))
        return picks

    monkeypatch.setattr(strat, "select", spy)
    prelabel.score_clips(sim, version, unlabeled)  # after a new version
    prelabel.rank_from_predictions(sim, version, unlabeled)  # after a strategy change
    assert len(centers) == 2

    def rows(a: np.ndarray) -> np.ndarray:  # the same clips, whatever their order
        return a[np.lexsort(a.T[::-1])]

    for got in centers:
        np.testing.assert_allclose(rows(got), rows(expected), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_test_clips_in_the_project_are_adapted_to_but_never_answered(
    tones_project, few_steps, tmp_path
):
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=4, seed=3)
    # More test clips than training's floor for adaptation (ADAPT_MIN_CLIPS = 32).
    test = _tone_manifest(tmp_path / "test", "test", per_class=12, seed=4)
    test_names = {p.name for p in (tmp_path / "test").glob("*.wav")}

    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "hybrid",
        "--seed-size", "6",
        "--batch", "6",
        "--budget", "12",
        "--repeats", "1",
        "--test-in-project",
        "--out", str(tmp_path / "out"),
        "--keep",
    )  # fmt: skip

    for sim in Project.objects.exclude(pk=tones_project.pk):
        clips = Clip.objects.filter(project=sim)
        assert clips.count() == 12 + 36
        answered = set(clips.filter(annotation_count=1).values_list("original_name", flat=True))
        assert len(answered) == 12 and not answered & test_names
        assert (
            set(clips.filter(annotation_count=0).values_list("original_name", flat=True))
            >= test_names
        )
        # The oracle passed on each test clip (skipped): no batch of diverse picks spends
        # itself on them.
        skipped = set(
            Annotation.objects.filter(clip__project=sim, status="skipped").values_list(
                "clip__original_name", flat=True
            )
        )
        assert skipped == test_names
        picked = clips.filter(priority__gte=PICKED_BASE).values_list("original_name", flat=True)
        assert not set(picked) & test_names
        last = sim.model_versions.get(status="active")
        # The last round left 36 test clips unlabeled: training adapted to them.
        assert last.metrics["adapted_on_clips"] == 36
    result = json.loads((tmp_path / "out" / "learning_curves.json").read_text())
    assert result["settings"]["test_in_project"] is True
    assert [p["labels"] for p in result["strategies"]["hybrid"]["repeats"][0]] == [6, 12]


def test_it_refuses_a_pool_without_labels(tones_project, tmp_path):
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=2, seed=5)
    unlabeled = tmp_path / "pool" / "unlabeled.csv"
    unlabeled.write_text("audio\n" + "".join(f"{p.name}\n" for p in pool.parent.glob("*.wav")))

    with pytest.raises(CommandError, match="has no labels"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(unlabeled), "--test-manifest", str(pool),
            "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert list(Project.objects.values_list("pk", flat=True)) == [tones_project.pk]


def test_a_test_manifest_sharing_audio_with_the_pool_is_refused(tones_project, tmp_path):
    """The same 60 files as pool and test ran, and the page said "60 held out for testing":
    learned from, then tested on."""
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=2, seed=5)
    with pytest.raises(CommandError, match=r"test clip\(s\) are in the pool as well"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert list(Project.objects.values_list("pk", flat=True)) == [tones_project.pk]
    # a copy under another name in another folder: the same audio all the same
    import shutil

    first = next((tmp_path / "pool").glob("*.wav"))
    (tmp_path / "copy").mkdir()
    shutil.copy(first, tmp_path / "copy" / "renamed.wav")
    test = tmp_path / "copy" / "test.csv"
    rows = list(csv.DictReader(pool.read_text().splitlines()))
    label = next(row["labels"] for row in rows if row["audio"] == first.name)
    test.write_text(f"audio,labels\nrenamed.wav,{label}\n")
    with pytest.raises(CommandError, match=r"1 test clip\(s\) are in the pool as well \(renamed"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(test),
            "--out", str(tmp_path / "out"),
        )  # fmt: skip


@pytest.mark.parametrize("growth", ["-0.5", "5"])
def test_a_growth_out_of_range_is_a_clear_error_before_anything_runs(
    tones_project, tmp_path, growth
):
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=2, seed=5)
    with pytest.raises(CommandError, match="growth must be between 0 and 4"):
        call_command(
            "simulate_al", "Tones", "--manifest", str(pool), "--test-manifest", str(pool),
            "--growth", growth, "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert list(Project.objects.values_list("pk", flat=True)) == [tones_project.pk]
    assert not (tmp_path / "out").exists()


def test_the_model_page_shows_stored_curves_which_patch_cannot_overwrite(
    tones_project, lead, client_for, client
):
    curves = {"created_at": "2026-11-21T10:00:00+00:00", "strategies": {"random": {"mean": []}}}
    MLConfig.objects.filter(project=tones_project).update(learning_curves=curves)
    url = f"/api/projects/{tones_project.pk}/model/"

    refused = client_for(lead).patch(url, {"learning_curves": {}, "epochs": 2}, format="json")
    assert refused.status_code == 400
    assert "read-only field(s) learning_curves" in refused.json()["detail"]
    answer = client_for(lead).patch(url, {"epochs": 2}, format="json")
    assert answer.status_code == 200
    assert answer.json()["config"]["learning_curves"] == curves
    assert answer.json()["config"]["epochs"] == 2
    client.force_login(lead)
    page = client.get(f"/projects/{tones_project.pk}/model/")
    assert page.status_code == 200
    assert b'data-testid="learning-curves"' in page.content


def test_rounds_grow_by_a_share_of_the_labels_so_far_once_it_exceeds_the_batch():
    from labelapp.errors import DomainError
    from ml_backend.simulation import SimulationConfig

    flat = SimulationConfig(["margin"], seed_size=40, batch=40, budget=200)
    assert [flat.round_size(used) for used in (0, 40, 80, 400)] == [40, 40, 40, 40]

    growing = SimulationConfig(["margin"], seed_size=40, batch=40, budget=1000, growth=0.25)
    used, schedule = 0, []
    while used < 1000:
        used += min(growing.round_size(used), 1000 - used)
        schedule.append(used)
    # 40 a round until 25% of the labels so far is more (after 200); the budget caps the last
    assert schedule == [40, 80, 120, 160, 200, 250, 312, 390, 488, 610, 762, 952, 1000]

    with pytest.raises(DomainError):
        SimulationConfig(["margin"], growth=-0.1)


@pytest.mark.slow  # four real trainings and one pretraining
def test_the_simulated_projects_share_one_pretraining_of_their_clips(
    tones_project, few_steps, tmp_path, monkeypatch
):
    """Every simulated project holds the pool's clips: the first one's first training
    pretrains on them, and the others start from that feature extractor too, without
    pretraining again."""
    from ml_backend import pretrain, training
    from ml_backend.models import ModelVersion

    monkeypatch.setattr(training, "PRETRAIN", "on")
    monkeypatch.setattr(training, "PRETRAIN_MIN_CLIPS", 6)
    monkeypatch.setattr(training, "PRETRAIN_STEPS", 4)
    made = []
    real = pretrain.contrastive_pretrain
    monkeypatch.setattr(
        pretrain,
        "contrastive_pretrain",
        lambda windows, *a, **kw: made.append(len(windows)) or real(windows, *a, **kw),
    )
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=4, seed=3)
    test = _tone_manifest(tmp_path / "test", "test", per_class=2, seed=4)
    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "margin",
        "--seed-size", "6",
        "--batch", "3",
        "--budget", "9",
        "--repeats", "1",
        "--out", str(tmp_path / "out"),
        "--keep",
    )  # fmt: skip
    assert made == [12]  # the pool's 12 clips, once
    firsts = [
        ModelVersion.objects.get(project=sim, version=1).metrics
        for sim in Project.objects.exclude(pk=tones_project.pk)
    ]
    assert len(firsts) == 2  # margin and the random baseline
    assert all(m["started_from"] == "pretrained on the project's clips" for m in firsts)
    assert all(m["pretraining"]["windows"] == 12 for m in firsts)


def test_a_round_with_one_class_is_measured_untrained_and_the_simulation_goes_on(
    tones_project, tmp_path
):
    """A training is refused while the labels name one class; the round says why."""
    pool = _tone_manifest(tmp_path / "pool", "pool", per_class=2, seed=5)
    test = _tone_manifest(tmp_path / "test", "test", per_class=1, seed=6)
    call_command(
        "simulate_al",
        "Tones",
        "--manifest", str(pool),
        "--test-manifest", str(test),
        "--strategy", "random",
        "--seed-size", "1",
        "--budget", "1",
        "--repeats", "1",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    result = json.loads((tmp_path / "out" / "learning_curves.json").read_text())
    (point,) = result["strategies"]["random"]["repeats"][0]
    assert point["labels"] == 1 and "at least two labels (found 1)" in point["error"]
