"""Helpers for ontology tests: trees from path lists, clips, annotations that use labels."""

from __future__ import annotations

import itertools

import pytest

from labelapp.models import Clip
from labelapp.services.annotations import annotation_input_build, annotation_save
from ontology.models import Label
from ontology.services import label_get_or_create_path

_sha = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_tree_cache():
    from ontology.tree import tree_cache_clear

    tree_cache_clear()
    yield
    tree_cache_clear()


@pytest.fixture
def labels(project):
    """`labels("animal/bird/corvid", "animal/dog")` -> {path: Label} (ancestors included)."""

    def make(*paths: str) -> dict[str, Label]:
        for path in paths:
            label_get_or_create_path(ontology=project.ontology, path=path)
        return {lb.path: lb for lb in Label.objects.filter(ontology=project.ontology)}

    return make


@pytest.fixture
def make_clip():
    def make(project, name: str = "x.wav", duration: float = 10.0) -> Clip:
        return Clip.objects.create(
            project=project,
            file=name,
            sha256=f"{next(_sha):064d}",
            original_name=name,
            duration=duration,
            sample_rate=16000,
            channels=1,
            status="ready",
        )

    return make


@pytest.fixture
def annotate(make_clip):
    """Save `user`'s annotation of a new clip of `project` with clip labels and segments."""

    def make(project, user, clip_labels=(), segments=(), clip=None):
        clip = clip or make_clip(project)
        data = annotation_input_build(
            project, clip, clip_labels=list(clip_labels), segments=list(segments)
        )
        return annotation_save(clip=clip, user=user, data=data)

    return make
