"""The workspace in a project of clip labels only: a drag on the waveform makes no segment, and
no undo step either (it recorded one that undid nothing, so the next Ctrl+Z seemed to fail)."""

from __future__ import annotations

import pytest

from tests.browser.test_workspace import _ready, drag, drawn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def clip_only_clip(project, wav_factory):
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from ml_backend.models import MLConfig
    from ontology.services import label_create

    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    project.annotation_mode = "clip"
    project.save(update_fields=["annotation_mode"])
    label_create(ontology=project.ontology, name="noise", hotkey="n")
    outcome = clip_import(
        project=project, item=ImportItem(name="take.wav", path=wav_factory(seconds=5, freq=600))
    )
    clip_process(outcome.clip_id)
    return _ready(outcome.clip_id)


def test_a_drag_in_a_clip_only_project_makes_no_segment_and_no_undo_step(
    live_server, page, login, annotator, clip_only_clip
):
    clip = clip_only_clip
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clip.pk}/annotate/")
    drawn(page, clip.pk)
    chip = page.locator("[data-testid=clip-labels] .ws-chip[data-label='noise']")
    page.keyboard.press("n")
    assert chip.count() == 1
    assert page.get_attribute("#workspace", "data-last-edit") == "label clip"

    drag(page, 1.0, 2.0)
    assert "clip labels only" in page.inner_text("[data-testid=banner]")
    assert page.locator("[data-testid=segment]").count() == 0
    assert page.get_attribute("#workspace", "data-last-edit") == "label clip"

    # One Ctrl+Z takes the label back: the drag left no step of its own to undo first.
    page.keyboard.press("Control+z")
    assert chip.count() == 0
    page.wait_for_selector("[data-testid=save-state][data-state=saved]", timeout=10_000)
