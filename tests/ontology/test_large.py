"""A real-sized ontology: 632 classes in AudioSet's format, imported and read in one request."""

from __future__ import annotations

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ontology.models import Label
from ontology.samples import audioset_like

pytestmark = pytest.mark.django_db


def test_a_632_class_audioset_ontology_imports_and_loads_in_one_request(
    project, client_for, lead, annotator, django_assert_max_num_queries
):
    items = audioset_like(632)
    upload = SimpleUploadedFile("ontology.json", json.dumps(items).encode(), "application/json")
    response = client_for(lead).post(
        f"/api/projects/{project.pk}/ontology/import/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    report = response.json()
    assert (report["format"], report["created"]) == ("audioset", 632)
    assert len(report["warnings"]) == 24  # one per class with a second parent
    assert Label.objects.filter(ontology=project.ontology).count() == 632

    client = client_for(annotator)
    started = time.perf_counter()
    with django_assert_max_num_queries(6):  # session, project, role, labels: never per label
        tree = client.get(f"/api/projects/{project.pk}/ontology/").json()
    elapsed = time.perf_counter() - started
    labels = tree["labels"]
    assert len(labels) == 632
    assert len({lb["path"] for lb in labels}) == 632
    assert {lb["external_id"] for lb in labels} == {item["id"] for item in items}
    assert max(lb["depth"] for lb in labels) == 5
    # Parents come before their children: the client can build the tree in one pass.
    seen = set()
    for lb in labels:
        assert lb["parent"] is None or lb["parent"] in seen
        seen.add(lb["id"])
    assert elapsed < 5.0, f"fetching the tree took {elapsed:.2f} s"


def test_the_large_tree_exports_back_to_the_same_classes(project, client_for, lead):
    from ontology.io import ontology_import

    items = audioset_like(632, seed=3)
    ontology_import(ontology=project.ontology, content=json.dumps(items))
    response = client_for(lead).get(f"/api/projects/{project.pk}/ontology/export?format=audioset")
    exported = json.loads(response.content)
    assert {i["id"] for i in exported} == {i["id"] for i in items}
    # Each class keeps exactly one parent link: the first one listed in the original file.
    child_links = sum(len(i["child_ids"]) for i in exported)
    assert child_links == 632 - 7
