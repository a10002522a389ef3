"""Active-learning strategies on crafted inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.uncertainty import (
    STRATEGIES,
    Hybrid,
    get_strategy,
    kcenter_greedy,
    kcenter_greedy_balanced,
    kmeanspp_order,
)

UNCERTAINTY = ["least_confidence", "margin", "entropy"]


def test_registry_has_all_strategies() -> None:
    assert set(STRATEGIES) == {
        "least_confidence",
        "margin",
        "entropy",
        "bald",
        "kcenter",
        "hybrid",
        "badge",
        "random",
        "cold_start",
    }
    with pytest.raises(ValueError):
        get_strategy("nope")


@pytest.mark.parametrize("name", UNCERTAINTY + ["hybrid"])
def test_even_split_more_uncertain_than_confident(name: str) -> None:
    probs = np.array([[0.99, 0.01], [0.5, 0.5], [0.8, 0.2]])
    s = STRATEGIES[name].score(probs)
    assert s[1] > s[2] > s[0]
    assert STRATEGIES[name].select(1, probs).tolist() == [1]


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_multi_label_scores(name: str) -> None:
    probs = np.array([[0.99, 0.01, 0.98], [0.5, 0.45, 0.55]])
    s = STRATEGIES[name].score(probs, multi_label=True)
    assert s[1] > s[0]


def test_bald_prefers_disagreeing_passes() -> None:
    agree = np.tile([[0.5, 0.5]], (6, 1))  # uncertain but every pass says so
    disagree = np.array([[0.95, 0.05], [0.05, 0.95]] * 3)  # confident passes that disagree
    confident = np.tile([[0.99, 0.01]], (6, 1))
    mc = np.stack([agree, disagree, confident], axis=1)  # (passes, N, C)
    s = STRATEGIES["bald"].score(mc_probs=mc)
    assert s[1] > s[0] and s[1] > s[2]
    assert s[0] == pytest.approx(0.0, abs=1e-9)
    assert STRATEGIES["bald"].select(1, mc_probs=mc).tolist() == [1]
    ml = STRATEGIES["bald"].score(mc_probs=mc, multi_label=True)
    assert ml[1] > ml[0]
    with pytest.raises(ValueError):
        STRATEGIES["bald"].score(np.zeros((3, 2)))


def test_kcenter_picks_spread_out_points() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    pts = np.concatenate([c + 0.1 * rng.standard_normal((25, 2)) for c in centers])
    picked = kcenter_greedy(pts, 4)
    clusters = {int(i) // 25 for i in picked}
    assert clusters == {0, 1, 2, 3}
    # With labelled points in clusters 0 and 1, the next picks come from 2 and 3.
    sel = STRATEGIES["kcenter"].select(2, embeddings=pts, labeled_embeddings=centers[:2])
    assert {int(i) // 25 for i in sel} == {2, 3}
    s = STRATEGIES["kcenter"].score(embeddings=pts, labeled_embeddings=centers[:2])
    assert s[60] > s[10]


def test_hybrid_avoids_duplicates_among_uncertain() -> None:
    # Six equally uncertain items: three near-duplicates at A, three at B, C, D.
    emb = np.array([[0, 0], [0, 0.01], [0.01, 0], [5, 5], [-5, 5], [5, -5]], dtype=float)
    probs = np.tile([[0.5, 0.5]], (6, 1))
    probs = np.concatenate([probs, [[0.99, 0.01]] * 20])
    emb = np.concatenate([emb, [[50, 50]] * 20])  # far away but confident
    # Candidate pool = 2 * 3 = the six uncertain items.
    sel = Hybrid(candidate_factor=2).select(3, probs, embeddings=emb)
    assert len(sel) == 3
    assert all(i < 6 for i in sel)  # only uncertain candidates
    assert sum(i < 3 for i in sel) <= 1  # at most one of the near-duplicates


def test_hybrid_picks_among_the_most_uncertain_share_of_a_small_pool() -> None:
    """279 unlabeled clips and the queue's 200 ordered picks: 4 x 200 candidates were every
    clip, so hybrid was plain k-center (its top 20 no more uncertain than random's). The
    candidates are at most the most uncertain 40% of the clips that may be picked."""
    rng = np.random.default_rng(2)
    n = 279
    sure = rng.uniform(0.5, 0.99, n)  # the top class's probability, two classes
    probs = np.c_[sure, 1 - sure]
    emb = rng.normal(size=(n, 6))
    exclude = np.arange(9)  # passed over by an annotator: not picked, not counted
    picks = Hybrid().select(200, probs, embeddings=emb, exclude=exclude)
    entropy = -(probs * np.log(probs)).sum(axis=1)
    entropy[exclude] = -np.inf
    share = int(np.ceil(0.4 * (n - len(exclude))))  # 108
    allowed = set(np.argsort(-entropy, kind="stable")[:share].tolist())
    assert len(picks) == share and set(picks.tolist()) == allowed
    assert np.mean(sure[picks[:20]]) < np.mean(sure)  # the first picks: more uncertain
    # a large pool keeps the candidate factor's bound: 4 x 10 of 1,000
    big = np.c_[rng.uniform(0.5, 0.99, 1000)]
    picks = Hybrid().select(10, np.c_[big, 1 - big], embeddings=rng.normal(size=(1000, 6)))
    big_entropy = -(np.c_[big, 1 - big] * np.log(np.c_[big, 1 - big])).sum(axis=1)
    assert set(picks.tolist()) <= set(np.argsort(-big_entropy)[:40].tolist())


def test_balanced_kcenter_takes_turns_among_groups_farthest_first() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 4))
    groups = np.r_[np.zeros(270, int), np.repeat([1, 2, 3], 10)]  # one group dominates
    centers = rng.normal(size=(20, 4))
    plain = kcenter_greedy(pts, 8, centers)
    picks = kcenter_greedy_balanced(pts, 8, groups, centers)
    assert np.bincount(groups[plain], minlength=4).max() >= 4  # piles onto group 0
    assert np.bincount(groups[picks], minlength=4).tolist() == [2, 2, 2, 2]
    # the first pick: the farthest-from-the-centers point of the first group served
    d = ((pts[:, None, :] - centers[None]) ** 2).sum(-1).min(axis=1)
    first = groups[picks[0]]
    assert picks[0] == np.flatnonzero(groups == first)[np.argmax(d[groups == first])]
    # a group that runs out leaves the turns to the others; never a pick twice
    more = kcenter_greedy_balanced(pts, 60, groups, centers)
    assert len(set(more.tolist())) == 60
    assert np.bincount(groups[more], minlength=4).tolist() == [30, 10, 10, 10]
    # rows that are not finite are never picked, and a pool of only such rows gives none
    broken = pts.copy()
    broken[groups == 1] = np.nan
    picks = kcenter_greedy_balanced(broken, 9, groups, centers)
    assert len(picks) == 9 and not (groups[picks] == 1).any()
    assert len(kcenter_greedy_balanced(np.full((5, 4), np.nan), 3, np.zeros(5, int))) == 0


def test_hybrid_batches_cover_the_predicted_classes() -> None:
    """Among the uncertain candidates, the clips predicted as class 0 spread widest in the
    embedding (the region the model confuses): the unbalanced hybrid's k-center asks about
    them only; the balanced one asks about each predicted class in turn."""
    rng = np.random.default_rng(1)
    n = 200
    pred = np.r_[np.zeros(170, int), np.repeat([1, 2, 3], 10)]
    probs = np.full((n, 4), 0.1)
    probs[np.arange(n), pred] = 0.7
    probs /= probs.sum(axis=1, keepdims=True)
    emb = np.where(pred[:, None] == 0, 10.0, 0.1) * rng.normal(size=(n, 8))
    # every clip a candidate (they are equally uncertain): the turns are what is tested
    balanced = Hybrid(candidate_factor=25, pool_share=1.0).select(8, probs, embeddings=emb)
    unbalanced = Hybrid(candidate_factor=25, balanced=False, pool_share=1.0).select(
        8, probs, embeddings=emb
    )
    assert np.bincount(pred[balanced], minlength=4).tolist() == [2, 2, 2, 2]
    assert set(pred[unbalanced].tolist()) == {0}


def test_random_is_seeded_and_respects_exclude() -> None:
    probs = np.full((50, 2), 0.5)
    a = STRATEGIES["random"].select(10, probs, seed=3)
    b = STRATEGIES["random"].select(10, probs, seed=3)
    c = STRATEGIES["random"].select(10, probs, seed=4)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 10
    sel = STRATEGIES["entropy"].select(5, probs, exclude=[0, 1, 2])
    assert not {0, 1, 2} & set(sel.tolist())


def test_cold_start_covers_clusters() -> None:
    rng = np.random.default_rng(1)
    # Cheap features with three well-separated groups of different sizes.
    feats = np.concatenate(
        [rng.normal(m, 0.2, size=(n, 6)) for m, n in [(0, 60), (4, 25), (-4, 10)]]
    )
    groups = np.repeat([0, 1, 2], [60, 25, 10])
    sel = STRATEGIES["cold_start"].select(3, features=feats, seed=0)
    assert set(groups[sel].tolist()) == {0, 1, 2}
    s = STRATEGIES["cold_start"].score(features=feats)
    assert s.shape == (95,)
    assert s[:60].mean() > s[85:].mean()  # dense group is more representative


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_uniform_interface(name: str) -> None:
    rng = np.random.default_rng(2)
    n = 30
    probs = rng.dirichlet(np.ones(4), size=n)
    inputs = {
        "mc_probs": rng.dirichlet(np.ones(4), size=(5, n)),
        "embeddings": rng.normal(size=(n, 8)),
        "labeled_embeddings": rng.normal(size=(3, 8)),
        "features": rng.normal(size=(n, 6)),
    }
    strat = STRATEGIES[name]
    s = strat.score(probs, **inputs)
    assert s.shape == (n,)
    sel = strat.select(7, probs, **inputs)
    assert len(sel) == 7 and len(set(sel.tolist())) == 7
    assert sel.min() >= 0 and sel.max() < n


def _gradient_embeddings(probs: np.ndarray, emb: np.ndarray) -> np.ndarray:
    a = probs.copy()
    a[np.arange(len(a)), a.argmax(1)] -= 1.0
    return (a[:, :, None] * emb[:, None, :]).reshape(len(a), -1)


def test_badge_score_is_the_gradient_embedding_norm() -> None:
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(3), size=12)
    emb = rng.normal(size=(12, 4))
    s = STRATEGIES["badge"].score(probs, embeddings=emb)
    np.testing.assert_allclose(s, np.linalg.norm(_gradient_embeddings(probs, emb), axis=1))
    confident = np.array([[0.98, 0.01, 0.01]])
    unsure = np.array([[0.4, 0.35, 0.25]])
    same = np.ones((1, 4))
    assert (
        STRATEGIES["badge"].score(unsure, embeddings=same)[0]
        > STRATEGIES["badge"].score(confident, embeddings=same)[0]
    )


def test_badge_first_pick_is_the_largest_gradient_and_copies_are_never_picked_twice() -> None:
    # Ten copies of the most uncertain clip, one other uncertain clip, confident ones.
    probs = np.array([[0.5, 0.5]] * 10 + [[0.6, 0.4]] + [[0.99, 0.01]] * 5)
    emb = np.array([[1.0, 0.0]] * 10 + [[0.0, 1.0]] + [[1.0, 1.0]] * 5)
    for seed in range(20):
        sel = STRATEGIES["badge"].select(2, probs, embeddings=emb, seed=seed)
        assert sel[0] < 10  # the largest gradient first
        assert all(i >= 10 for i in sel[1:])  # a copy of a pick is at distance 0
    sel = STRATEGIES["badge"].select(3, probs, embeddings=emb, exclude=list(range(10)), seed=0)
    assert not set(sel.tolist()) & set(range(10))


def test_kmeanspp_order_draws_by_squared_distance_in_the_explicit_gradient_space() -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(5), size=40)
    emb = rng.normal(size=(40, 6))
    a = probs.copy()
    a[np.arange(40), probs.argmax(1)] -= 1.0
    g = _gradient_embeddings(probs, emb)
    picks = kmeanspp_order(a, emb, 8, np.arange(40), seed=3)
    assert len(set(picks.tolist())) == 8
    assert picks.tolist() == kmeanspp_order(a, emb, 8, np.arange(40), seed=3).tolist()
    assert picks[0] == int(np.argmax((g**2).sum(1)))
    # The second pick's law: the share of draws landing on each clip follows its squared
    # distance to the first pick in the (N, C * D) space the factorisation never builds.
    d2 = ((g - g[picks[0]]) ** 2).sum(1)
    seconds = np.bincount(
        [kmeanspp_order(a, emb, 2, np.arange(40), seed=s)[1] for s in range(3000)],
        minlength=40,
    )
    expected = d2 / d2.sum() * 3000
    big = expected > 100
    assert np.all(np.abs(seconds[big] - expected[big]) < 5 * np.sqrt(expected[big]))
    assert seconds[picks[0]] == 0


def test_badge_leaves_broken_rows_for_last() -> None:
    probs = np.array([[0.5, 0.5], [np.nan, np.nan], [0.6, 0.4], [0.55, 0.45]])
    emb = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [np.inf, 0.0]])
    for seed in range(10):
        sel = STRATEGIES["badge"].select(4, probs, embeddings=emb, seed=seed)
        assert sorted(sel[:2].tolist()) == [0, 2] and sorted(sel[2:].tolist()) == [1, 3]


def test_badge_multi_label_gradient_is_p_minus_its_rounding() -> None:
    probs = np.array([[0.97, 0.02, 0.99], [0.55, 0.45, 0.6]])
    emb = np.ones((2, 3))
    s = STRATEGIES["badge"].score(probs, embeddings=emb, multi_label=True)
    a = probs - (probs >= 0.5)
    np.testing.assert_allclose(s, np.linalg.norm(a, axis=1) * np.sqrt(3))
    assert s[1] > s[0]
    assert STRATEGIES["badge"].select(1, probs, embeddings=emb, multi_label=True).tolist() == [1]
