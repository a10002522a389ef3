"""Training on synthetic separable data: accuracy, determinism, warm start, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_backend.model import ModelConfig
from ml_backend.train import TrainConfig, TrainingCancelled, train_model

from .conftest import make_separable

SMALL = ModelConfig(n_mels=16, width=8, channel_mult=(1, 2), strides=(2, 2), dropout=0.1)


def _config(**kw) -> TrainConfig:
    base = {"model": SMALL, "epochs": 8, "batch_size": 16, "lr": 1e-2, "seed": 0}
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_separable(n_per_class=30, n_classes=3, n_mels=16, frames=32)


def test_learns_separable_problem(data) -> None:
    x, y = data
    calls: list[tuple[float, str]] = []
    result = train_model(x, y, config=_config(), progress=lambda f, m: calls.append((f, m)))
    assert result.metrics["accuracy"] >= 0.9
    assert result.metrics["macro_f1"] >= 0.9
    assert result.metrics["split"] == "validation"
    assert result.metrics["val_size"] > 0
    assert len(result.metrics["per_class"]) == 3
    assert not result.model.training
    assert calls and calls[-1][0] <= 1.0 and all(0 < f <= 1 for f, _ in calls)
    assert len(result.history) == len(calls)
    # Normalisation statistics were learned from the data, not left at defaults.
    assert not torch.allclose(result.model.norm_mean, torch.zeros(16))
    x_test, y_test = make_separable(n_per_class=10, n_classes=3, n_mels=16, frames=32, seed=9)
    with torch.no_grad():
        pred = result.model(torch.from_numpy(x_test))["clip_logits"].argmax(1).numpy()
    assert (pred == y_test).mean() >= 0.9


def test_deterministic_for_a_seed(data) -> None:
    x, y = data
    cfg = _config(epochs=2)
    a = train_model(x, y, config=cfg).model.state_dict()
    b = train_model(x, y, config=cfg).model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    c = train_model(x, y, config=_config(epochs=2, seed=1)).model.state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_warm_start_with_changed_class_count(data) -> None:
    x, y = data
    first = train_model(x, y, config=_config(epochs=6))
    # A fourth class appears: the head is new, the backbone is reused.
    x4, y4 = make_separable(n_per_class=30, n_classes=4, n_mels=16, frames=32, seed=3)
    warm = train_model(
        x4, y4, config=_config(epochs=1, lr=1e-4), init_state=first.model.state_dict()
    )
    cold = train_model(x4, y4, config=_config(epochs=1, lr=1e-4))
    assert warm.model.config.n_classes == 4
    w_stem = warm.model.stem[0].weight
    assert torch.allclose(w_stem, first.model.stem[0].weight, atol=1e-2)
    assert not torch.allclose(cold.model.stem[0].weight, first.model.stem[0].weight, atol=1e-2)


def test_cancellation(data) -> None:
    x, y = data
    polls = {"n": 0}

    def stop() -> bool:
        polls["n"] += 1
        return polls["n"] > 3

    with pytest.raises(TrainingCancelled):
        train_model(x, y, config=_config(), should_stop=stop)


def test_multi_label_with_hierarchy() -> None:
    x, y = make_separable(n_per_class=30, n_classes=3, n_mels=16, frames=32, seed=5)
    # Classes 0..2 are leaves under a root 3 ("any sound"): multi-label targets.
    targets = np.zeros((len(y), 4), dtype=np.float32)
    targets[np.arange(len(y)), y] = 1
    cfg = _config(
        model=ModelConfig(**{**SMALL.to_dict(), "multi_label": True}), parents=[3, 3, 3, -1]
    )
    result = train_model(x, targets, config=cfg)
    assert result.model.config.multi_label
    assert result.metrics["mAP"] > 0.9
    assert set(result.metrics["per_level"]) == {"0", "1"}


def test_variable_length_clips_are_windowed() -> None:
    x, y = make_separable(n_per_class=12, n_classes=2, n_mels=16, frames=32, seed=7)
    clips = [np.concatenate([w, w], axis=1)[:, : 20 + 3 * (i % 10)] for i, w in enumerate(x)]
    cfg = _config(epochs=2, window_frames=16, window_hop_frames=8)
    result = train_model(clips, y, groups=[f"clip{i}" for i in range(len(clips))], config=cfg)
    assert result.metrics["train_size"] + result.metrics["val_size"] == len(clips)
    assert result.metrics["train_windows"] + result.metrics["val_windows"] > len(clips)


@pytest.mark.parametrize("options", [{"loss": "focal"}, {"mixup_alpha": 0.4}])
def test_focal_loss_and_mixup_still_learn(data, options) -> None:
    x, y = data
    result = train_model(x, y, config=_config(epochs=6, **options))
    assert result.metrics["accuracy"] >= 0.8


@pytest.mark.parametrize("bf16", [True, False])
def test_bf16_runs_the_convolutions_in_bfloat16_and_keeps_float32_weights(data, bf16) -> None:
    x, y = data
    seen: list[torch.dtype] = []
    real_conv1d = torch.nn.Conv1d.forward

    def spy(self, inp):
        out = real_conv1d(self, inp)
        seen.append(out.dtype)
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.Conv1d, "forward", spy)
        result = train_model(x, y, config=_config(epochs=6, bf16=bf16, mixup_alpha=0.2))
    training_dtypes = set(seen)
    assert (torch.bfloat16 in training_dtypes) is bf16
    assert torch.float32 in training_dtypes  # validation and evaluation: float32
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert result.metrics["accuracy"] >= 0.8


def test_bf16_by_default_where_the_cpu_multiplies_it_natively(monkeypatch) -> None:
    from ml_backend import train

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert train.native_bf16()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not train.native_bf16()
    assert TrainConfig().bf16 is None and TrainConfig().num_threads == 1


def test_self_training_adds_only_confident_pseudo_labels_and_validates_on_humans(data) -> None:
    from ml_backend import train as T

    x, y = data
    first = train_model(x, y, config=_config())
    unlabeled_x, unlabeled_y = make_separable(
        n_per_class=20, n_classes=3, n_mels=16, frames=32, seed=5
    )
    junk = np.zeros((5, 16, 32), dtype=np.float32)  # silence: nothing to be sure about
    unlabeled = [*unlabeled_x, *junk]
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real_train = T.train_model

    def spy(*args, **kwargs):
        seen.append(kwargs["extra"])
        return real_train(*args, **kwargs)

    T.train_model = spy
    try:
        tuned, used = T.self_train(first, x, y, None, unlabeled, threshold=0.6)
    finally:
        T.train_model = real_train
    assert 0 < used <= len(unlabeled_x)
    windows, targets = seen[0]
    assert len(windows) == len(targets) == used  # one window per 32-frame clip
    # the pseudo-labels are the model's answers, right on this separable data
    assert (targets == unlabeled_y[: len(targets)]).mean() >= 0.9 or used < len(unlabeled_x)
    assert tuned is not first and tuned.metrics["val_size"] == first.metrics["val_size"]
    assert tuned.metrics["accuracy"] >= 0.9
    assert len(tuned.history) <= T.PSEUDO_EPOCHS


def test_self_training_is_capped_by_the_labels_and_skipped_for_multi_label(data) -> None:
    from ml_backend import train as T

    x, y = data
    first = train_model(x[:12], y[:12], config=_config(epochs=4, val_fraction=0.0))
    unlabeled = list(make_separable(n_per_class=40, n_classes=3, n_mels=16, frames=32, seed=6)[0])
    _tuned, used = T.self_train(first, x[:12], y[:12], None, unlabeled, threshold=0.0)
    # never more pseudo-labeled clips than the cap allows per labeled one
    assert used == int(T.PSEUDO_MAX_RATIO * 12) < len(unlabeled)
    multi = train_model(
        x,
        np.eye(3)[y],
        config=_config(epochs=2, model=ModelConfig(**{**SMALL.to_dict(), "multi_label": True})),
    )
    same, used = T.self_train(multi, x, np.eye(3)[y], None, unlabeled)
    assert same is multi and used == 0


def test_self_training_caps_by_clips_when_a_group_holds_many_clips(data) -> None:
    """Groups of a speaker's clips (validation by speaker) counted as one labeled clip each:
    twelve clips of two speakers allowed the pseudo-labels of two."""
    from ml_backend import train as T

    x, y = data
    clips = list(x[:12])  # a list of clips, as the product gives them
    speakers = ["a"] * 6 + ["b"] * 6
    first = train_model(clips, y[:12], groups=speakers, config=_config(epochs=4))
    unlabeled = list(make_separable(n_per_class=40, n_classes=3, n_mels=16, frames=32, seed=6)[0])
    _tuned, used = T.self_train(first, clips, y[:12], speakers, unlabeled, threshold=0.0)
    assert used == int(T.PSEUDO_MAX_RATIO * 12) < len(unlabeled)


def test_whole_groups_stay_on_one_side_of_the_split() -> None:
    from ml_backend.train import _split

    groups = np.repeat(np.array([f"speaker {i}" for i in range(8)]), 5)
    y = np.tile(np.arange(5), 8)
    tr, va = _split(y, groups, multi_label=False, val_fraction=0.25, seed=3)
    assert len(va) == 10 and set(groups[va]).isdisjoint(groups[tr])
    assert len(tr) + len(va) == 40


def test_balanced_selection_takes_the_same_share_of_the_cap_from_each_predicted_class() -> None:
    from ml_backend.train import _confident

    # eight sure answers for class 0, two for class 1, one unsure clip
    probs = np.array([[0.99 - i * 0.001, 0.01] for i in range(8)] + [[0.05, 0.95]] * 2)
    probs = np.vstack([probs, [[0.55, 0.45]]])
    overall = _confident(probs, 0.9, cap=4, balanced=False)
    assert list(overall) == [0, 1, 2, 3]  # the most confident first: all of class 0
    balanced = _confident(probs, 0.9, cap=4, balanced=True)
    assert sorted(balanced) == [0, 1, 8, 9]  # two per class, the best of each
    assert 10 not in _confident(probs, 0.9, cap=20, balanced=True)  # under the threshold


def test_each_self_training_round_relabels_with_the_tuned_and_adapted_model(data) -> None:
    import dataclasses

    from ml_backend import train as T

    x, y = data
    first = train_model(x, y, config=_config())
    first.config = dataclasses.replace(first.config, pseudo_rounds=2)
    unlabeled = list(make_separable(n_per_class=10, n_classes=3, n_mels=16, frames=32, seed=8)[0])
    models_seen, adapted = [], []
    real_train = T.train_model

    def spy(*args, **kwargs):
        models_seen.append(kwargs["init_state"])
        return real_train(*args, **kwargs)

    T.train_model = spy
    try:
        tuned, used = T.self_train(
            first, x, y, None, unlabeled, threshold=0.5, adapt=lambda m: adapted.append(m)
        )
    finally:
        T.train_model = real_train
    assert len(models_seen) == 2 and used > 0
    assert len(adapted) == 2 and adapted[-1] is tuned.model
    # round two starts from round one's model, not from the first training
    first_state = first.model.state_dict()
    assert any(
        not np.allclose(models_seen[1][k].numpy(), first_state[k].numpy())
        for k in first_state
        if first_state[k].dtype.is_floating_point
    )
    assert tuned.config.pseudo_rounds == 2 and tuned.config.epochs == first.config.epochs


def test_keep_best_false_trains_every_epoch_and_returns_the_last(data) -> None:
    x, y = data
    result = train_model(x, y, config=_config(epochs=5, patience=1, keep_best=False))
    assert len(result.history) == 5 and result.best_epoch == 5
    assert result.metrics["split"] == "validation"  # still measured on held-out labels


def test_alignment_matches_the_prior_and_moves_the_least_sure_clips_first() -> None:
    from ml_backend.train import align_distribution

    # Six clips the model files mostly under class 1, though the labels' prior is 50/50:
    # the three least class-1-like of them must move to class 0, in that order of doubt.
    probs = np.array([[0.9, 0.1], [0.45, 0.55], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.05, 0.95]])
    prior = np.array([0.5, 0.5])
    assert list(probs.argmax(1)) == [0, 1, 1, 1, 1, 1]
    aligned = align_distribution(probs, prior, rounds=50)
    np.testing.assert_allclose(aligned.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(aligned.mean(axis=0), prior, atol=1e-3)
    assert list(aligned.argmax(1)) == [0, 0, 0, 1, 1, 1]
    # Each row's odds move by the same factor: the order of clips by p(class 0) stays.
    assert list(np.argsort(aligned[:, 0])) == list(np.argsort(probs[:, 0]))
    # One round is ReMixMatch's step: scale by prior / mean, then renormalise each row.
    step = probs * (prior / probs.mean(axis=0))
    np.testing.assert_allclose(
        align_distribution(probs, prior, rounds=1), step / step.sum(1, keepdims=True), atol=1e-6
    )
    # A class no label has keeps probability zero; zero rounds change nothing.
    three = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    assert np.all(align_distribution(three, np.array([0.5, 0.5, 0.0]), rounds=10)[:, 2] == 0)
    np.testing.assert_allclose(align_distribution(probs, prior, rounds=0), probs, atol=1e-6)


def test_alignment_is_bounded_and_ignores_rows_that_are_not_finite() -> None:
    from ml_backend.train import ALIGN_MAX_SCALE, align_distribution

    # Class 2 is in the labels' prior but the unlabeled clips hold none of it (all labeled
    # already): unbounded balancing would drag every clip towards it.
    probs = np.array([[0.998, 0.001, 0.001]] * 50 + [[0.001, 0.998, 0.001]] * 50)
    prior = np.array([0.4, 0.4, 0.2])
    unbounded = align_distribution(probs, prior, rounds=50, max_scale=1e9)
    assert unbounded[:, 2].mean() > 0.19  # matched exactly, at every clip's expense
    aligned = align_distribution(probs, prior, rounds=50)
    assert (aligned.argmax(1) == probs.argmax(1)).all()
    assert aligned[:, 2].max() <= 0.001 * ALIGN_MAX_SCALE**2  # scaled at most that much
    assert (aligned.max(axis=1) >= 0.9).all()  # the sure clips stay sure
    # A NaN row stays NaN (never confident) and does not spread to the others.
    with_nan = np.vstack([probs[:4], [[np.nan, np.nan, np.nan]]])
    out = align_distribution(with_nan, np.array([0.5, 0.5, 0.0]), rounds=20)
    assert np.isnan(out[4]).all() and np.isfinite(out[:4]).all()
    np.testing.assert_allclose(out[:4].sum(axis=1), 1.0, atol=1e-6)


def test_class_counts_count_each_labeled_clip_once() -> None:
    from ml_backend.train import _class_counts

    y = np.array([0, 0, 0, 1, 2, 2])  # clip 7 has three windows of class 0
    groups = np.array([7, 7, 7, 8, 9, 10])
    np.testing.assert_allclose(_class_counts(y, groups, 4), [1, 1, 2, 0])
    np.testing.assert_allclose(_class_counts(y, None, 3), [3, 1, 2])


def test_the_project_prior_weighs_labels_by_the_clips_they_cover() -> None:
    from ml_backend.train import project_prior

    counts = np.array([30.0, 10.0])  # a strategy asked mostly about class 0
    probs = np.tile([0.5, 0.5], (100, 1))  # the model sees the rest as even
    # 40 labels among 40 + 100 clips: 30 + 50 of 140 for class 0.
    np.testing.assert_allclose(project_prior(counts, probs), [80 / 140, 60 / 140])
    # The 100 clips sample 1,000: the labels' skew nearly vanishes ...
    np.testing.assert_allclose(project_prior(counts, probs, 10.0), [530 / 1040, 510 / 1040])
    # ... and with nothing unlabeled (or only broken rows) the labels are the prior.
    nan = np.full((3, 2), np.nan)
    np.testing.assert_allclose(project_prior(counts, nan), [0.75, 0.25])


def test_aligned_self_training_pseudo_labels_follow_the_project_prior(data) -> None:
    """With alignment, the pseudo-labels are the argmax of the model's probabilities on the
    unlabeled clips rescaled to the project's class frequencies (labels plus predictions),
    and the rescaled probabilities sit closer to those frequencies than the raw ones. The
    expected labels are computed from the same model, so the test holds on any CPU (which
    clips a small model over-predicts differs between instruction sets)."""
    import dataclasses

    from ml_backend import train as T
    from ml_backend.infer import predict_batch

    x, y = data  # balanced: 30 clips of each of 3 classes
    first = train_model(x, y, config=_config())
    unlabeled_x, unlabeled_y = make_separable(
        n_per_class=20, n_classes=3, n_mels=16, frames=32, seed=5
    )
    # Shift the unlabeled clips of class 2 halfway towards class 1's pattern: the model
    # mislabels them, as it does a new voice.
    shifted = unlabeled_x.copy()
    c1 = x[y == 1].mean(axis=0)
    shifted[unlabeled_y == 2] = 0.5 * shifted[unlabeled_y == 2] + 0.5 * c1
    unlabeled = list(shifted)
    window = (x.shape[2], min(first.config.window_hop_frames, x.shape[2]))  # as self_train
    probs = predict_batch(first.model, unlabeled, window, aggregate="mean")["clip_probs"]
    prior = T.project_prior(np.bincount(y, minlength=3).astype(float), probs)
    rescaled = T.align_distribution(probs, prior, 30)
    picked: dict[int, np.ndarray] = {}
    real_train = T.train_model

    def spy(*args, **kwargs):
        picked[len(picked)] = kwargs["extra"][1]
        return real_train(*args, **kwargs)

    T.train_model = spy
    try:
        for align in (0, 30):
            first.config = dataclasses.replace(first.config, pseudo_align=align)
            T.self_train(first, x, y, None, unlabeled, threshold=0.0)
    finally:
        T.train_model = real_train
    # One 32-frame window per clip here, so the window targets count clips (all 60 pass a
    # threshold of 0, the most confident first).
    plain, aligned = (np.bincount(picked[i], minlength=3) for i in (0, 1))
    assert plain.tolist() == np.bincount(probs.argmax(axis=1), minlength=3).tolist()
    assert aligned.tolist() == np.bincount(rescaled.argmax(axis=1), minlength=3).tolist()
    assert np.abs(rescaled.mean(axis=0) - prior).max() < np.abs(probs.mean(axis=0) - prior).max()
    # the prior counts the labels, balanced, beside the skewed predictions
    assert np.abs(prior - 1 / 3).max() < np.abs(probs.mean(axis=0) - 1 / 3).max()


def test_metrics_count_examples_not_windows(data) -> None:
    """A clip cut into two windows is one example in the metrics: the model page showed
    "31/32" correct for 31 clips when one of them was 1.1 s long."""
    x, y = data
    clips = [np.concatenate([w, w], axis=1) if i % 10 == 0 else w for i, w in enumerate(x)]
    config = _config(epochs=1, val_fraction=0.0, window_frames=32, window_hop_frames=32)
    result = train_model(clips, y, config=config)
    assert result.metrics["n"] == len(clips) == 90
    assert result.metrics["train_size"] == 90  # clips, as the figures count them
    assert result.metrics["train_windows"] == 90 + 9  # the training itself saw every window


def test_per_example_averages_an_examples_windows() -> None:
    from ml_backend.train import per_example

    targets = np.array([2, 2, 0, 1, 1, 1])
    probs = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 1, 0]])
    items = np.array([0, 0, 1, 2, 2, 2])
    y, p = per_example(targets, probs.astype(np.float32), items)
    assert y.tolist() == [2, 0, 1]
    np.testing.assert_allclose(p, [[0, 0.5, 0.5], [1, 0, 0], [0, 2.5 / 3, 0.5 / 3]], rtol=1e-6)
