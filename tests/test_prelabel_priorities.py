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
