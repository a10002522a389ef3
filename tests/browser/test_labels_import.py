"""As a data lead who labeled elsewhere would: the audio is imported, then a labels file (a
CSV manifest here) is chosen on the project page; a wrong file is refused saying why, a good
one is followed by a progress bar to a report of what it could not label."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, Segment
from labelapp.services.projects import system_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_imports_labels_for_clips_already_here(
    celery_worker_process,
    live_server,
    page,
    login,
    lead,
    project,
    labels,
    clips,
    tmp_path,
    screenshot,
):
    bad = tmp_path / "typos.csv"
    bad.write_text("audio,labels\ntake1.wav,noize\n")
    good = tmp_path / "labels.csv"
    good.write_text(
        "audio,labels,start,end,low_freq,high_freq\n"
        "take1.wav,noise,,,,\n"
        "field/take2.wav,birds/sparrow,1.0,2.5,1500,4000\n"
        "take9.wav,noise,,,,\n"
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("[data-testid=labels-import] summary")
    send = page.locator("[data-testid=labels-import-send]")
    assert send.is_disabled()
    page.set_input_files("[data-testid=labels-import-file]", str(bad))
    assert page.inner_text("[data-testid=labels-import-chosen]") == "typos.csv"
    send.click()
    said = page.locator("[data-testid=labels-import-said]")
    said.filter(has_text="Not imported").wait_for(timeout=15_000)
    assert "1 label the label tree lacks: noize" in said.inner_text()
    assert not Annotation.objects.exists()

    page.set_input_files("[data-testid=labels-import-file]", str(good))
    send.click()
    said.filter(has_text="labeled").filter(has_not_text="Labeling").wait_for(timeout=60_000)
    assert said.inner_text().startswith("2 clips labeled; 1 recording of the file not labeled")
    assert (
        page.eval_on_selector("[data-testid=labels-import-bar]", "e => parseFloat(e.style.width)")
        == 100
    )
    report = page.inner_text("[data-testid=labels-import-report]").splitlines()
    assert report[0].startswith("take9.wav: no clip of this project is named take9.wav"), report
    assert sorted(report[1:]) == ["take1.wav: labeled", "take2.wav: labeled"]
    screenshot(page, "labels-import")

    mine = Annotation.objects.filter(annotator=system_user())
    assert [cl.label.path for cl in mine.get(clip=clips[0]).clip_labels.all()] == ["noise"]
    box = Segment.objects.get(annotation__clip=clips[1])
    assert (box.start, box.end, box.low_freq, box.high_freq) == (1.0, 2.5, 1500.0, 4000.0)
    # After a reload the job says what it did, and which recording it passed over, and why.
    page.reload()
    job = page.locator("[data-testid=import-job]").first
    from labelapp.models import ImportJob

    last = ImportJob.objects.filter(project=project).latest("pk").pk
    assert f"#{last} labels file labels.csv · 2 clips labeled, 1 recording not, of 3" in (
        job.inner_text()
    )
    job.locator("[data-testid=import-job-rejected] summary").click()
    assert "take9.wav: no clip" in job.locator("[data-testid=import-job-rejected]").inner_text()


def test_a_detectors_output_comes_in_as_suggestions_the_annotator_sees(
    celery_worker_process,
    live_server,
    page,
    login,
    lead,
    annotator,
    project,
    labels,
    clips,
    tmp_path,
):
    detections = tmp_path / "birdnet.csv"
    detections.write_text(
        "audio,labels,start,end,score\ntake2.wav,birds/sparrow,1.0,3.0,0.87\n"
        "take2.wav,birds/crow,3.0,4.5,0.31\n"
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("[data-testid=labels-import] summary")
    assert page.locator("[data-testid=labels-import-source-field]").is_hidden()
    page.select_option("[data-testid=labels-import-kind]", "suggestions")
    page.fill("[data-testid=labels-import-source]", "birdnet-2.4")
    page.set_input_files("[data-testid=labels-import-file]", str(detections))
    page.click("[data-testid=labels-import-send]")
    said = page.locator("[data-testid=labels-import-said]")
    said.filter(has_text="given suggestions").wait_for(timeout=60_000)
    assert said.inner_text() == "1 clip given suggestions from birdnet-2.4."
    assert not Annotation.objects.exists()  # a model's output is no one's labels
    page.reload()
    job = page.locator("[data-testid=import-job]").first.inner_text()
    assert "suggestions from birdnet-2.4 birdnet.csv · 1 clip given them, of 1" in job

    page.context.clear_cookies()
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[1].pk}/annotate/")
    panel = page.locator("[data-testid=suggestions]")
    panel.wait_for(timeout=20_000)
    assert "birdnet-2.4" in panel.inner_text().lower()
    rows = page.locator("[data-testid=suggestion][data-kind=segment]")
    assert rows.count() == 2
    assert "0.87" in rows.first.inner_text() + rows.last.inner_text()
