"""What several annotations of one clip say together, as the manifest export, the training
and the agreement figures all read it (each had its own copy of these rules)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable


def clip_answer(clip_labels: Iterable, segment_labels: Iterable, *, multi: bool) -> set:
    """What one annotation says of the clip: multi-label, its clip labels and its segments'
    labels (a clip tagged "bird" with robin and wren segments holds all three); single-label,
    its clip label, or its segments' when it has none."""
    on_clip, on_segments = set(clip_labels), set(segment_labels)
    return on_clip | on_segments if multi else on_clip or on_segments


def clip_vote(answers: Iterable[set], *, single: bool) -> list[Hashable]:
    """The labels the answers (`clip_answer`s; empty ones do not vote) agree on, sorted:
    single-label, the most frequent one, or none on a tie (a reviewer settles it);
    multi-label, those chosen by at least half of them."""
    answers = [a for a in answers if a]
    if not answers:
        return []
    counts = Counter(label for a in answers for label in a)
    if single:
        top = max(counts.values())
        best = [label for label, n in counts.items() if n == top]
        return best if len(best) == 1 else []
    return sorted(label for label, n in counts.items() if 2 * n >= len(answers))


ACCEPTED = "accepted"


def reviewed_vote(answers: Iterable[tuple[str, set]], *, single: bool) -> list[Hashable]:
    """`clip_vote` over the (status, answer) pairs of a clip's counted annotations, where a
    reviewer's decision outweighs unreviewed work: if any is accepted, only accepted ones
    vote (the manifest's and the training's rule)."""
    pairs = list(answers)
    accepted = [answer for status, answer in pairs if status == ACCEPTED]
    return clip_vote(accepted or [answer for _, answer in pairs], single=single)
