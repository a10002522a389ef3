"""Active-learning strategies with one interface. Pure NumPy (+ sklearn k-means).

Every strategy has ``score(probs=None, **inputs) -> (N,)`` (higher = more worth
labelling) and ``select(batch_size, probs=None, **inputs) -> indices`` (best first).
Inputs, by keyword, as each strategy needs them:

- ``probs``: (N, C) class probabilities (softmax, or sigmoid with ``multi_label=True``);
- ``mc_probs``: (passes, N, C) MC-dropout probabilities (BALD);
- ``embeddings``: (N, D) model embeddings (k-center, hybrid, BADGE);
- ``labeled_embeddings``: (L, D) embeddings of already-labelled clips (k-center, hybrid);
- ``features``: (N, F) cheap features, e.g. ``features.summary_features`` (cold start);
- ``exclude``: indices that must not be selected; ``seed``: for random choices.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-12


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis."""
    return -(p * np.log(np.clip(p, EPS, 1.0))).sum(axis=-1)


def _min_sq_dist(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """For each row of a (N, D), the squared distance to its nearest row of b (L, D),
    in chunks so memory stays O(chunk * L) however large N is."""
    b2 = (b**2).sum(axis=1)
    out = np.empty(len(a))
    for i in range(0, len(a), chunk):
        block = a[i : i + chunk]
        d = (block**2).sum(axis=1)[:, None] + b2[None, :] - 2.0 * block @ b.T
        out[i : i + chunk] = np.maximum(d.min(axis=1), 0.0)
    return out


def _n_items(probs: np.ndarray | None, **inputs: Any) -> int:
    for arr in (probs, inputs.get("embeddings"), inputs.get("features")):
        if arr is not None:
            return len(arr)
    if inputs.get("mc_probs") is not None:
        return inputs["mc_probs"].shape[1]
    raise ValueError("no input given to size the pool (probs, embeddings or features)")


def _top(scores: np.ndarray, k: int, exclude: Any = None) -> np.ndarray:
    """Indices of the k highest scores, ties broken by lower index, skipping ``exclude``."""
    s = np.asarray(scores, dtype=np.float64).copy()
    if exclude is not None and len(exclude):
        s[np.asarray(exclude, dtype=np.int64)] = -np.inf
    order = np.lexsort((np.arange(len(s)), -s))
    order = order[np.isfinite(s[order])]
    return order[:k]


def _kcenter_start(
    points: np.ndarray, centers: np.ndarray | None, candidates: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points as float64, candidate indices, each candidate's squared distance to its
    nearest center, or to the points' mean when there are no centers)."""
    pts = np.asarray(points, dtype=np.float64)
    cand = np.arange(len(pts)) if candidates is None else np.asarray(candidates, dtype=np.int64)
    if len(cand) == 0:
        return pts, cand, np.zeros(0)
    if centers is not None and len(centers):
        return pts, cand, _min_sq_dist(pts[cand], np.asarray(centers, dtype=np.float64))
    return pts, cand, ((pts[cand] - pts.mean(axis=0)) ** 2).sum(-1)


def kcenter_greedy(
    points: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy k-center: repeatedly pick the candidate farthest from all centers so far.

    Args:
        points: (N, D).
        k: number to pick.
        centers: (L, D) existing centers (e.g. labelled clips); if none, the first pick
            is the point farthest from the mean (deterministic).
        candidates: indices allowed to be picked (default all).

    Returns:
        Up to k indices into ``points``, in pick order.
    """
    pts, cand, d = _kcenter_start(points, centers, candidates)
    if len(cand) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    if centers is None or not len(centers):
        d = np.where(d == d.max(), np.inf, d)  # force the farthest-from-mean point first
    picked: list[int] = []
    for _ in range(min(k, len(cand))):
        j = int(np.argmax(d))
        picked.append(int(cand[j]))
        d = np.minimum(d, ((pts[cand] - pts[cand[j]]) ** 2).sum(-1))
        d[j] = -np.inf
    return np.asarray(picked, dtype=np.int64)


def kcenter_greedy_balanced(
    points: np.ndarray,
    k: int,
    groups: np.ndarray,
    centers: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy k-center whose picks take turns among groups (the predicted classes): each
    pick comes from the group with the fewest picks so far (ties: the group whose farthest
    candidate is farthest), and is that group's candidate farthest from all centers so far.
    A batch then asks about every class the model sees in the pool, not only the pair it
    confuses most."""
    pts, cand, d = _kcenter_start(points, centers, candidates)
    if len(cand) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    g = np.asarray(groups)[cand]
    members = {n: np.flatnonzero(g == n) for n in np.unique(g).tolist()}
    count = dict.fromkeys(members, 0)
    picked: list[int] = []
    for _ in range(min(k, len(cand))):
        # a group is open while it has a candidate left (picked ones, and rows that are not
        # finite, sit at -inf or NaN)
        open_groups = [n for n, idx in members.items() if np.isfinite(d[idx]).any()]
        if not open_groups:
            break
        fewest = min(count[n] for n in open_groups)
        best = None
        for n in open_groups:
            if count[n] != fewest:
                continue
            idx = members[n]
            j = int(idx[np.argmax(np.where(np.isfinite(d[idx]), d[idx], -np.inf))])
            if best is None or d[j] > d[best[1]]:
                best = (n, j)
        n, j = best
        count[n] += 1
        picked.append(int(cand[j]))
        d = np.minimum(d, ((pts[cand] - pts[cand[j]]) ** 2).sum(-1))
        d[j] = -np.inf
    return np.asarray(picked, dtype=np.int64)


class Strategy:
    """Base: ``select`` takes the top ``batch_size`` by ``score``."""

    name = "base"

    def score(self, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        raise NotImplementedError

    def select(self, batch_size: int, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        return _top(self.score(probs, **inputs), batch_size, inputs.get("exclude"))


class LeastConfidence(Strategy):
    """1 - max probability; multi-label: mean over classes of 1 - max(p, 1 - p)."""

    name = "least_confidence"

    def score(
        self, probs: np.ndarray | None = None, multi_label: bool = False, **_: Any
    ) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if multi_label:
            return (1 - np.maximum(p, 1 - p)).mean(axis=1)
        return 1 - p.max(axis=1)


class Margin(Strategy):
    """1 - (top1 - top2); multi-label: mean over classes of 1 - |2p - 1|."""

    name = "margin"

    def score(
        self, probs: np.ndarray | None = None, multi_label: bool = False, **_: Any
    ) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if multi_label:
            return (1 - np.abs(2 * p - 1)).mean(axis=1)
        if p.shape[1] < 2:
            return 1 - np.abs(2 * p[:, 0] - 1)
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1 - (top2[:, 1] - top2[:, 0])


class Entropy(Strategy):
    """Predictive entropy (nats); multi-label: mean binary entropy over classes."""

    name = "entropy"

    def score(
        self, probs: np.ndarray | None = None, multi_label: bool = False, **_: Any
    ) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        return _binary_entropy(p).mean(axis=1) if multi_label else _entropy(p)


class BALD(Strategy):
    """Mutual information between prediction and weights, from MC-dropout passes:
    H(mean over passes) - mean over passes of H. Needs ``mc_probs`` (passes, N, C)."""

    name = "bald"

    def score(
        self,
        probs: np.ndarray | None = None,
        mc_probs: np.ndarray | None = None,
        multi_label: bool = False,
        **_: Any,
    ) -> np.ndarray:
        if mc_probs is None:
            raise ValueError("BALD needs mc_probs (passes, N, C) from MC-dropout inference")
        mc = np.asarray(mc_probs, dtype=np.float64)
        mean = mc.mean(axis=0)
        if multi_label:
            mi = _binary_entropy(mean) - _binary_entropy(mc).mean(axis=0)
            return np.maximum(mi, 0.0).sum(axis=1)
        return np.maximum(_entropy(mean) - _entropy(mc).mean(axis=0), 0.0)


class KCenter(Strategy):
    """Diversity: distance to the nearest labelled clip (k-center greedy for batches)."""

    name = "kcenter"

    def score(
        self,
        probs: np.ndarray | None = None,
        embeddings: np.ndarray | None = None,
        labeled_embeddings: np.ndarray | None = None,
        **_: Any,
    ) -> np.ndarray:
        if embeddings is None:
            raise ValueError("kcenter needs embeddings (N, D)")
        e = np.asarray(embeddings, dtype=np.float64)
        if labeled_embeddings is None or not len(labeled_embeddings):
            return np.sqrt(((e - e.mean(axis=0)) ** 2).sum(-1))
        return np.sqrt(_min_sq_dist(e, np.asarray(labeled_embeddings, dtype=np.float64)))

    def select(self, batch_size: int, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        e = inputs.get("embeddings")
        if e is None:
            raise ValueError("kcenter needs embeddings (N, D)")
        cand = np.setdiff1d(
            np.arange(len(e)), np.asarray(inputs.get("exclude", []), dtype=np.int64)
        )
        return kcenter_greedy(e, batch_size, inputs.get("labeled_embeddings"), cand)


MIN_CANDIDATES = 80


class Hybrid(Strategy):
    """Uncertainty then diversity: the ``candidate_factor * batch_size`` most uncertain
    clips (BALD when ``mc_probs`` is given, else entropy), but no more than the most
    uncertain ``pool_share`` of the clips that may be picked, then k-center greedy among
    them so a batch does not hold near-duplicates (without the share, a pool smaller than
    the 800 candidates of the queue's 200 ordered picks was all candidates: hybrid was plain
    k-center there, its top 20 no more uncertain than random's; on FSDD's pools of ~2,000
    the share is about the 800 that were measured); ``balanced`` (the default), the picks
    take turns among the predicted classes (``kcenter_greedy_balanced``). Unbalanced, a
    batch piles onto the pairs the model confuses most (FSDD, lucas held out, 244 labels:
    45 "nine", 16 "six" from a balanced pool) and falls behind random as labels grow;
    balanced, it reached random's 95% bar at 156 labels where the unbalanced one never did
    (benchmarks/RESULTS.md, session 7). ``score`` is the uncertainty score scaled to
    [0, 1] times ``weight`` plus the scaled k-center distance times 1 - weight."""

    name = "hybrid"

    def __init__(
        self,
        candidate_factor: int = 4,
        weight: float = 0.7,
        balanced: bool = True,
        pool_share: float = 0.4,
    ) -> None:
        self.candidate_factor = candidate_factor
        self.weight = weight
        self.balanced = balanced
        self.pool_share = pool_share

    @staticmethod
    def _uncertainty(probs: np.ndarray | None, **inputs: Any) -> np.ndarray:
        if inputs.get("mc_probs") is not None:
            return BALD().score(probs, **inputs)
        return Entropy().score(probs, **inputs)

    def score(self, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        u = self._uncertainty(probs, **inputs)
        if inputs.get("embeddings") is None:
            return u
        d = KCenter().score(probs, **inputs)

        def scale(v: np.ndarray) -> np.ndarray:
            span = v.max() - v.min()
            return (v - v.min()) / span if span > 0 else np.zeros_like(v)

        return self.weight * scale(u) + (1 - self.weight) * scale(d)

    def select(self, batch_size: int, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        u = self._uncertainty(probs, **inputs)
        exclude = inputs.get("exclude")
        free = len(u) - (len(np.unique(np.asarray(exclude))) if exclude is not None else 0)
        # Never fewer than four rounds of the default 20 labels between trainings: a pool of
        # a few dozen clips keeps them all as candidates.
        share = max(math.ceil(self.pool_share * free), min(free, MIN_CANDIDATES))
        pool = _top(u, min(batch_size * self.candidate_factor, share), exclude)
        e = inputs.get("embeddings")
        if e is None:
            return pool[:batch_size]
        centers = inputs.get("labeled_embeddings")
        if self.balanced and probs is not None:
            groups = np.asarray(probs).argmax(axis=1)
            return kcenter_greedy_balanced(e, batch_size, groups, centers, pool)
        return kcenter_greedy(e, batch_size, centers, pool)


def _badge_factors(
    probs: np.ndarray, embeddings: np.ndarray, multi_label: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The two factors of BADGE's gradient embedding g = a (outer) h: a (N, C), the loss
    gradient at the logits with the model's own guess as the target (softmax: p minus the
    one-hot argmax; sigmoid: p minus its rounding), and h (N, D), the embedding."""
    p = np.asarray(probs, dtype=np.float64)
    if multi_label:
        a = p - (p >= 0.5)
    else:
        a = p.copy()
        a[np.arange(len(p)), p.argmax(axis=1)] -= 1.0
    return a, np.asarray(embeddings, dtype=np.float64)


def kmeanspp_order(
    a: np.ndarray,
    h: np.ndarray,
    k: int,
    candidates: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """k-means++ seeding over the gradient embeddings a (outer) h, without forming them:
    <a_i (x) h_i, a_j (x) h_j> = <a_i, a_j> <h_i, h_j>. The first pick is the largest
    gradient; each next one is drawn with probability proportional to its squared distance
    to the nearest pick so far (so far-off, uncertain clips are likely, but one outlier is
    not certain). O(k * N * (C + D)) time, O(N) memory beyond the inputs."""
    cand = np.asarray(candidates, dtype=np.int64)
    if len(cand) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    ac, hc = a[cand], h[cand]
    # A row with NaN or inf (a broken clip) is zeroed and kept at distance 0: last, if at all.
    broken = ~(np.isfinite(ac).all(1) & np.isfinite(hc).all(1))
    ac[broken], hc[broken] = 0.0, 0.0
    sq = (ac**2).sum(1) * (hc**2).sum(1)  # ||g_i||^2
    rng = np.random.default_rng(seed)
    j = int(np.argmax(sq))
    picked = [j]
    d = np.maximum(sq + sq[j] - 2.0 * (ac @ ac[j]) * (hc @ hc[j]), 0.0)
    d[j] = 0.0
    d[broken] = 0.0
    while len(picked) < min(k, len(cand)):
        total = d.sum()
        if total <= 0:  # the rest are copies of picks: take them in order
            rest = np.setdiff1d(np.arange(len(cand)), picked)
            picked.extend(rest[: k - len(picked)].tolist())
            break
        j = int(rng.choice(len(cand), p=d / total))
        picked.append(j)
        d = np.minimum(d, np.maximum(sq + sq[j] - 2.0 * (ac @ ac[j]) * (hc @ hc[j]), 0.0))
        d[j] = 0.0
    return cand[np.asarray(picked, dtype=np.int64)]


class Badge(Strategy):
    """BADGE-style batches (Ash et al., ICLR 2020) that are uncertain and diverse at once:
    k-means++ seeding over "gradient embeddings", the loss gradient at the clip logits
    (outer product) the clip embedding. That is BADGE's last-layer gradient for a linear
    head; with attention pooling over frames (the default model) it is a proxy. Its length is
    the uncertainty, its direction the diversity; no weight to tune. ``score``: the gradient's
    length, times the embedding's when ``embeddings`` are given (the ranker passes none, so
    the clips after the picks follow ``||p - onehot||``)."""

    name = "badge"

    def score(
        self,
        probs: np.ndarray | None = None,
        embeddings: np.ndarray | None = None,
        multi_label: bool = False,
        **_: Any,
    ) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        a, _ = _badge_factors(p, np.zeros((len(p), 0)), multi_label)
        norm = np.sqrt((a**2).sum(1))  # the gradient's length at the logits
        if embeddings is None:
            return norm
        return norm * np.linalg.norm(np.asarray(embeddings, dtype=np.float64), axis=1)

    def select(self, batch_size: int, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        e = inputs.get("embeddings")
        if e is None or probs is None:
            raise ValueError("badge needs probs (N, C) and embeddings (N, D)")
        a, h = _badge_factors(probs, e, bool(inputs.get("multi_label")))
        cand = np.setdiff1d(
            np.arange(len(e)), np.asarray(inputs.get("exclude", []), dtype=np.int64)
        )
        return kmeanspp_order(a, h, batch_size, cand, seed=int(inputs.get("seed", 0)))


class RandomStrategy(Strategy):
    """Seeded uniform baseline."""

    name = "random"

    def score(
        self, probs: np.ndarray | None = None, seed: int | list[int] = 0, **inputs: Any
    ) -> np.ndarray:
        return np.random.default_rng(seed).random(_n_items(probs, **inputs))


class ColdStart(Strategy):
    """No model yet: pick clips covering the data, one per k-means cluster of cheap
    standardised features (the member nearest each centroid). ``score`` is
    representativeness: minus the mean distance to the 10 nearest neighbours."""

    name = "cold_start"

    @staticmethod
    def _standardise(features: np.ndarray) -> np.ndarray:
        f = np.asarray(features, dtype=np.float64)
        return (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-8)

    def score(
        self, probs: np.ndarray | None = None, features: np.ndarray | None = None, **_: Any
    ) -> np.ndarray:
        if features is None:
            raise ValueError("cold_start needs features (N, F), e.g. band mean/std of log-mel")
        from sklearn.neighbors import NearestNeighbors

        f = self._standardise(features)
        k = min(10, len(f) - 1)
        if k <= 0:
            return np.zeros(len(f))
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(f).kneighbors(f)
        return -dist[:, 1:].mean(axis=1)  # column 0 is the point itself

    def select(self, batch_size: int, probs: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        from sklearn.cluster import KMeans

        if inputs.get("features") is None:
            raise ValueError("cold_start needs features (N, F)")
        f = self._standardise(inputs["features"])
        allowed = np.setdiff1d(
            np.arange(len(f)), np.asarray(inputs.get("exclude", []), dtype=np.int64)
        )
        k = min(batch_size, len(allowed))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        km = KMeans(n_clusters=k, n_init=3, random_state=inputs.get("seed", 0)).fit(f[allowed])
        picked: list[int] = []
        for centre in km.cluster_centers_:
            d = ((f[allowed] - centre) ** 2).sum(-1)
            for j in np.argsort(d, kind="stable"):
                if int(allowed[j]) not in picked:
                    picked.append(int(allowed[j]))
                    break
        return np.asarray(picked, dtype=np.int64)


STRATEGIES: dict[str, Strategy] = {
    "least_confidence": LeastConfidence(),
    "margin": Margin(),
    "entropy": Entropy(),
    "bald": BALD(),
    "kcenter": KCenter(),
    "hybrid": Hybrid(),
    "badge": Badge(),
    "random": RandomStrategy(),
    "cold_start": ColdStart(),
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {sorted(STRATEGIES)}") from None
