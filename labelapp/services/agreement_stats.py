"""Agreement statistics on plain lists: Fleiss' and Cohen's kappa, Krippendorff's alpha
(nominal), and segment matching by IoU. No Django: tested on hand-computed tables."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from itertools import combinations


def _f1(tp: int, fp: int, fn: int) -> float | None:
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else None


def _pairwise_agreement(values: Sequence[Hashable]) -> float:
    """Share of rater pairs that chose the same value (Fleiss' P_i)."""
    pairs = list(combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


def fleiss_kappa(
    table: Sequence[Sequence[int]], weights: Sequence[float] | None = None
) -> float | None:
    """Fleiss' kappa of a subjects × categories table of counts (`table[i][j]`: raters who put
    subject i in category j).

    Subjects may have different numbers of raters (each at least 2): P_i is then computed
    with the subject's own n_i, and the category shares p_j pool every rating. With a
    constant n this is exactly Fleiss (1971). `weights[i]` counts row i that many times
    (a table of distinct rows and how often each occurs: the same kappa as the table with
    the rows repeated). None when undefined: no subject with two raters, or every rating in
    one category (chance agreement is 1).
    """
    w_all = [1.0] * len(table) if weights is None else list(weights)
    rows, w = [], []
    for r, wi in zip(table, w_all, strict=True):
        if sum(r) >= 2 and wi > 0:
            rows.append(list(r))
            w.append(wi)
    if not rows:
        return None
    total = sum(wi * sum(r) for r, wi in zip(rows, w, strict=True))
    k = max(len(r) for r in rows)
    p = [
        sum(wi * r[j] for r, wi in zip(rows, w, strict=True) if j < len(r)) / total
        for j in range(k)
    ]
    p_bar = sum(
        wi * (sum(x * x for x in r) - sum(r)) / (sum(r) * (sum(r) - 1))
        for r, wi in zip(rows, w, strict=True)
    ) / sum(w)
    p_e = sum(x * x for x in p)
    if math.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1 - p_e)


def _binary_kappa(both_yes: int, a_only: int, b_only: int, both_no: int) -> float | None:
    """Cohen's kappa from a 2 × 2 table of two raters' yes/no answers."""
    n = both_yes + a_only + b_only + both_no
    if n == 0:
        return None
    p_o = (both_yes + both_no) / n
    a_yes, b_yes = (both_yes + a_only) / n, (both_yes + b_only) / n
    p_e = a_yes * b_yes + (1 - a_yes) * (1 - b_yes)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' values on the same items (same order). None when
    undefined (no items, or both raters always gave one and the same value)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in ca) / (n * n)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def krippendorff_alpha_nominal(
    units: Sequence[Sequence[Hashable]], weights: Sequence[float] | None = None
) -> float | None:
    """Krippendorff's alpha for nominal data. `units[u]` lists the values the raters gave
    unit u (missing ratings simply left out); units with fewer than two values are not
    pairable and are dropped. `weights[u]` counts unit u that many times.

    With o_ck the coincidence matrix (each ordered pair of values within a unit adds
    1 / (m_u - 1)), n_c = Σ_k o_ck and n = Σ_c n_c:
    alpha = 1 - (n - 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k. None when undefined (fewer than two
    pairable values, or one value only).
    """
    w_all = [1.0] * len(units) if weights is None else list(weights)
    coincidences: Counter = Counter()
    for unit, wu in zip(units, w_all, strict=True):
        m = len(unit)
        if m < 2 or wu <= 0:
            continue
        # ordered pairs of values: m_c · m_k between values, m_c · (m_c − 1) within one
        counts = Counter(unit)
        for c, mc in counts.items():
            for k, mk in counts.items():
                pairs = mc * (mc - 1) if c == k else mc * mk
                if pairs:
                    coincidences[(c, k)] += wu * pairs / (m - 1)
    n_c: Counter = Counter()
    for (c, _), v in coincidences.items():
        n_c[c] += v
    n = sum(n_c.values())
    if n < 2:
        return None
    observed = sum(v for (c, k), v in coincidences.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    if math.isclose(expected, 0.0):
        return None
    return 1 - (n - 1) * observed / expected


def interval_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time intervals (start, end)."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segment_iou(a: Sequence, b: Sequence) -> float:
    """IoU of two segment items (start, end, channel, label[, band]): of their boxes when both
    have a frequency band (low, high), as box annotations are compared (two calls at once in
    different bands do not match); of their times otherwise (a segment of every frequency
    covers any band)."""
    overlap = interval_iou((a[0], a[1]), (b[0], b[1]))
    band_a = a[4] if len(a) > 4 else None
    band_b = b[4] if len(b) > 4 else None
    if overlap <= 0 or band_a is None or band_b is None:
        return overlap
    time_inter = min(a[1], b[1]) - max(a[0], b[0])
    freq_inter = min(band_a[1], band_b[1]) - max(band_a[0], band_b[0])
    if freq_inter <= 0:
        return 0.0
    inter = time_inter * freq_inter
    area_a = (a[1] - a[0]) * (band_a[1] - band_a[0])
    area_b = (b[1] - b[0]) * (band_b[1] - band_b[0])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def segment_matches(
    a: Sequence[tuple], b: Sequence[tuple], *, iou: float = 0.5
) -> list[tuple[int, int]]:
    """Pairs (i, j) of `a`'s and `b`'s segments that match: same label, compatible channel
    (equal, or either None: all channels) and IoU ≥ `iou` (`segment_iou`: of the boxes when
    both have a band). Each segment matches at most once; the matching is a maximum one
    (Hungarian), ties broken by the larger total IoU. Items are (start, end, channel, label)
    and, optionally, band: (low, high) in Hz or None."""
    if not a or not b:
        return []
    eligible: dict[tuple[int, int], float] = {}
    for i, item_a in enumerate(a):
        ch1, lab1 = item_a[2], item_a[3]
        for j, item_b in enumerate(b):
            ch2, lab2 = item_b[2], item_b[3]
            if lab1 != lab2 or (ch1 is not None and ch2 is not None and ch1 != ch2):
                continue
            overlap = segment_iou(item_a, item_b)
            if overlap >= iou and overlap > 0:
                eligible[(i, j)] = overlap
    if not eligible:
        return []
    from scipy.optimize import linear_sum_assignment

    # A match is worth more than any sum of IoUs, so the assignment maximises the count first.
    bonus = len(a) + len(b) + 1
    cost = [[0.0] * len(b) for _ in a]
    for (i, j), overlap in eligible.items():
        cost[i][j] = -(bonus + overlap)
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if (i, j) in eligible)


def segment_f1(
    a: Sequence[tuple], b: Sequence[tuple], *, iou: float = 0.5, per_label: bool = False
) -> dict:
    """Agreement of two annotators' segments (items (start, end, channel, label)): matched
    pairs are true positives, `b`'s unmatched false positives, `a`'s unmatched false
    negatives; F1 = 2tp / (2tp + fp + fn) is symmetric in a and b. None when neither drew
    anything. With `per_label`, also `labels`: {label: {tp, fp, fn}}."""
    matches = segment_matches(a, b, iou=iou)
    tp = len(matches)
    fp, fn = len(b) - tp, len(a) - tp
    out = {"tp": tp, "fp": fp, "fn": fn, "f1": _f1(tp, fp, fn)}
    if per_label:
        labels: dict[str, dict] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
        matched_a = {i for i, _ in matches}
        matched_b = {j for _, j in matches}
        for i, item in enumerate(a):
            labels[item[3]]["tp" if i in matched_a else "fn"] += 1
        for j, item in enumerate(b):
            if j not in matched_b:
                labels[item[3]]["fp"] += 1
        out["labels"] = dict(labels)
    return out
