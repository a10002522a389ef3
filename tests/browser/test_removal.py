"""As a data lead would: filter the project's clips by status, delete the failed ones, delete
picked ones, and meet the second confirmation a clip with someone's annotation asks for; then
delete the whole project and see a real worker purge it."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from labelapp.models import Annotation, Clip, Project
from labelapp.services.annotations import annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from ontology.services import label_create
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _row(project, name: str, status: str) -> Clip:
    return Clip.objects.create(
        project=project,
        file=f"clips/{project.pk}/{name}",
        sha256=name.ljust(64, "0"),
        original_name=name,
        duration=1.0,
        sample_rate=8000,
        channels=1,
        status=status,
        error="could not decode the audio" if status == "failed" else "",
    )


def test_a_lead_deletes_failed_and_picked_clips_and_confirms_annotated_ones(
    celery_worker_process,
    live_server,
    page,
    login,
    lead,
    annotator,
    project,
    wav_factory,
    screenshot,
):
    outcome = clip_import(
        project=project, item=ImportItem(name="real.wav", path=wav_factory(seconds=1))
    )
    wait_for(lambda: Clip.objects.get(pk=outcome.clip_id).status == "ready", timeout=60)
    real = Clip.objects.get(pk=outcome.clip_id)
    files = [real.file.name, real.peaks_file]
    assert all(default_storage.exists(n) for n in files)
    for name in ("broken-1.wav", "broken-2.wav"):
        _row(project, name, "failed")
    labeled = _row(project, "labeled.wav", "ready")
    bird = label_create(ontology=project.ontology, name="bird")
    annotation_submit(clip=labeled, user=annotator, clip_labels=[bird.pk])

    login(page, lead)
    base = f"{live_server.url}/projects/{project.pk}/"
    page.goto(base)
    assert page.inner_text("[data-testid=count-failed]") == "2"

    # the failed filter lists only them, with the reason
    page.click("[data-testid=filter-failed]")
    page.wait_for_url(f"{base}?status=failed")
    rows = page.locator("[data-testid=clip-table] tbody tr")
    assert rows.count() == 2 and "could not decode" in rows.first.inner_text()

    # delete every failed clip: one confirmation, then the counts update
    page.click("[data-testid=delete-failed]")
    assert "(2)" in page.inner_text("[data-testid=confirm-text]")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.click("[data-testid=confirm-delete]")
    page.wait_for_selector("[data-testid=delete-status]:has-text('2 clips deleted')")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=count-failed]').textContent === '0'"
    )
    # read again in place, not reloaded (a reload under an upload asked "Leave site?")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=clip-table] tbody tr[data-clip]').length"
        " === 0"
    )
    assert not navigations
    assert not Clip.objects.filter(status="failed").exists()

    # pick the real clip and the labeled one
    page.goto(base)
    assert page.is_disabled("[data-testid=delete-selected]")
    page.check(f"tr[data-clip='{real.pk}'] input.pick")
    page.check(f"tr[data-clip='{labeled.pk}'] input.pick")
    assert page.inner_text("[data-testid=delete-selected]") == "Delete 2 selected"
    page.click("[data-testid=delete-selected]")
    assert "real.wav" in page.inner_text("[data-testid=confirm-list]")
    page.click("[data-testid=confirm-delete]")
    # the labeled clip asks again, naming its annotation; the other one is gone
    page.wait_for_selector("[data-testid=confirm-text]:has-text('holds someone')")
    assert "labeled.wav — 1 annotation" in page.inner_text("[data-testid=confirm-list]")
    screenshot(page, "clip-removal-confirm")
    assert page.locator(f"tr[data-clip='{real.pk}']").count() == 0  # off the table at once
    assert not Clip.objects.filter(pk=real.pk).exists()
    wait_for(
        lambda: not any(default_storage.exists(n) for n in files),
        timeout=30,
        message="the worker did not delete the clip's stored files",
    )
    page.click("[data-testid=confirm-cancel]")
    page.wait_for_selector("[data-testid=delete-status]:has-text('1 deleted; the others kept')")
    assert Annotation.objects.filter(clip=labeled).count() == 1

    # asked again and confirmed: the clip goes with its annotation
    page.wait_for_load_state("load")
    page.goto(base)
    page.check(f"tr[data-clip='{labeled.pk}'] input.pick")
    page.click("[data-testid=delete-selected]")
    page.click("[data-testid=confirm-delete]")
    page.wait_for_selector("[data-testid=confirm-delete]:has-text('with that work')")
    page.click("[data-testid=confirm-delete]")
    page.wait_for_selector("[data-testid=delete-status]:has-text('1 clip deleted')")
    assert not Clip.objects.filter(project=project).exists()
    assert not Annotation.objects.filter(clip_id=labeled.pk).exists()


def test_a_lead_deletes_the_project_and_a_worker_purges_it(
    celery_worker_process, live_server, page, login, lead, project, wav_factory, screenshot
):
    outcome = clip_import(
        project=project, item=ImportItem(name="real.wav", path=wav_factory(seconds=1))
    )
    wait_for(lambda: Clip.objects.get(pk=outcome.clip_id).status == "ready", timeout=60)
    clip = Clip.objects.get(pk=outcome.clip_id)
    files = [clip.file.name, clip.peaks_file]

    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.fill("[data-testid=delete-project-name]", "birds")  # not the name: still disabled
    assert page.is_disabled("[data-testid=delete-project]")
    page.fill("[data-testid=delete-project-name]", project.name)
    assert page.is_enabled("[data-testid=delete-project]")
    screenshot(page, "project-delete")
    page.click("[data-testid=delete-project]")
    page.wait_for_selector("[data-testid=delete-project-status]:has-text('Project deleted')")
    page.wait_for_url(f"{live_server.url}/")
    assert project.name not in page.inner_text("main")
    wait_for(
        lambda: not Project.objects.filter(pk=project.pk).exists(),
        timeout=60,
        message="the worker did not purge the deleted project",
    )
    assert not any(default_storage.exists(n) for n in files)
    assert page.goto(f"{live_server.url}/projects/{project.pk}/").status == 404


def test_the_project_page_follows_clips_the_worker_is_processing(
    live_server, page, login, lead, project
):
    """Two clips waiting for the worker: the counts follow it, and once none is left the page
    shows the clips ready without a manual reload."""
    waiting = [_row(project, "w1.wav", "pending"), _row(project, "w2.wav", "processing")]
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    assert page.inner_text("[data-testid=count-pending]") == "1"
    Clip.objects.filter(pk=waiting[0].pk).update(status="processing")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=count-processing]').textContent === '2'"
        " && document.querySelector('[data-testid=count-pending]').textContent === '0'",
        timeout=15_000,
    )
    Clip.objects.filter(pk__in=[c.pk for c in waiting]).update(status="ready")
    # the page's counts and list are read again, without a reload
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=count-ready]').textContent === '2'",
        timeout=15_000,
    )
    assert page.inner_text("[data-testid=count-processing]") == "0"
    assert not navigations
    statuses = page.locator("[data-testid=clip-table] .status").all_inner_texts()
    assert statuses == ["ready", "ready"]


def test_the_page_is_not_reloaded_under_an_upload_when_the_last_clip_is_processed(
    live_server, page, login, lead, project, wav_factory
):
    """Once the last pending clip was processed the page reloaded itself, in the middle of a
    second batch's upload: "Leave site?", and leaving lost the rest of the batch."""
    waiting = _row(project, "w1.wav", "pending")
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    held = []  # the upload's request, let go once the clip is processed
    page.route("**/api/projects/*/clips/", lambda route: held.append(route))
    dialogs, navigations = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.set_input_files("[data-testid=file-input]", [str(wav_factory("late.wav"))])
    Clip.objects.filter(pk=waiting.pk).update(status="ready")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=count-pending]').textContent === '0'",
        timeout=15_000,
    )
    page.wait_for_timeout(500)
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("[data-testid=upload-summary][data-done=true]", timeout=30_000)
    assert not dialogs and not navigations
    assert "1 imported" in page.inner_text("[data-testid=upload-summary]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=clip-total]').textContent.trim() === '2'",
        timeout=15_000,
    )


def test_a_lead_retries_the_failed_clips_and_watches_them_come_through(
    celery_worker_process, live_server, page, login, lead, project, wav_factory
):
    """A media folder moved away failed the clips processed meanwhile for good; only deleting
    and uploading them again got them back."""
    outcome = clip_import(
        project=project, item=ImportItem(name="back.wav", path=wav_factory(seconds=1))
    )
    wait_for(lambda: Clip.objects.get(pk=outcome.clip_id).status == "ready", timeout=60)
    Clip.objects.filter(pk=outcome.clip_id).update(
        status="failed", error="could not read or write media: the folder was missing"
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    assert page.inner_text("[data-testid=count-failed]") == "1"
    page.click("[data-testid=retry-failed]")
    page.wait_for_selector("[data-testid=delete-status]:has-text('1 clip sent back')")
    wait_for(lambda: Clip.objects.get(pk=outcome.clip_id).status == "ready", timeout=60)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=count-failed]').textContent === '0'",
        timeout=30_000,
    )
