"""A data lead exports from the project's exports page: a worker writes the file while the
page's progress bar fills, and the finished export downloads as a file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from ontology.services import label_get_or_create_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def labeled_project(project, annotator):
    for path in ("animals/birds/robin", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    for i in range(12):
        clip = Clip.objects.create(
            project=project,
            file=f"clips/{project.pk}/x/{i:064d}.wav",
            sha256=f"{i:064d}",
            original_name=f"take{i}.wav",
            duration=3.0,
            sample_rate=16000,
            channels=1,
            status=Clip.Status.READY,
            metadata={"site": f"site{i % 4}"},
        )
        annotation_submit(
            clip=clip,
            user=annotator,
            clip_labels=["animals/birds/robin" if i % 2 else "noise"],
            segments=[{"start": 0.5, "end": 1.5, "labels": ["noise"]}],
        )
    return project


def test_a_lead_starts_an_export_watches_it_finish_and_downloads_it(
    celery_worker_process, live_server, page, login, lead, labeled_project, screenshot
):
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{labeled_project.pk}/")
    page.click("[data-testid=exports-link]")
    page.wait_for_selector("[data-testid=export-form]")
    page.check("[data-testid=format-csv]")
    page.click("[data-testid=start-export]")
    page.wait_for_selector("[data-testid=export-job]", timeout=10_000)
    page.wait_for_selector("[data-testid=export-job][data-status=done]", timeout=60_000)
    width = page.eval_on_selector(
        "[data-testid=export-job][data-status=done] [data-testid=export-bar]",
        "e => parseFloat(e.style.width)",
    )
    assert width == 100
    assert "24 rows" in page.inner_text("[data-testid=export-job]")
    screenshot(page, "exports-page")
    with page.expect_download() as info:
        page.click("[data-testid=export-job][data-status=done] [data-testid=download]")
    download = info.value
    assert download.suggested_filename.startswith("birds-csv-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 24
    assert {r["label"] for r in rows} == {"animals/birds/robin", "noise"}


def test_a_bad_filter_is_shown_on_the_page(live_server, page, login, lead, labeled_project):
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{labeled_project.pk}/exports/")
    page.fill("[data-testid=filter-label]", "animals/cats")
    page.click("[data-testid=start-export]")
    page.wait_for_selector("[data-testid=export-error]:has-text('no label')", timeout=10_000)
    assert "animals/cats" in page.inner_text("[data-testid=export-error]")
    # Label Studio tasks name their audio by this server's address unless told otherwise: a
    # host-less path was the default, which Label Studio cannot load (a new user)
    assert page.input_value("input[name=base_url]") == live_server.url


def test_a_lead_keeps_the_splits_of_an_earlier_manifest(
    celery_worker_process, live_server, page, login, lead, labeled_project
):
    from labelapp.models import ExportJob

    login(page, lead)
    page.goto(f"{live_server.url}/projects/{labeled_project.pk}/exports/")
    page.check("[data-testid=format-manifest]")
    page.fill("[data-testid=option-group-by]", "site")
    page.click("[data-testid=start-export]")
    page.wait_for_selector("[data-testid=export-job][data-status=done]", timeout=60_000)
    first = ExportJob.objects.get(project=labeled_project)
    # offered at once, without a reload
    page.select_option("[data-testid=option-keep-splits]", str(first.pk))
    page.click("[data-testid=start-export]")
    page.wait_for_selector("[data-testid=export-job][data-status=done] >> nth=1", timeout=60_000)
    second = ExportJob.objects.filter(project=labeled_project).exclude(pk=first.pk).get()
    assert second.options["keep_splits"] == first.pk
    assert second.summary["clips_kept"] == 12
    assert f"12 clips kept their split from #{first.pk}" in page.inner_text(
        f"[data-testid=export-job][data-id='{second.pk}']"
    )


def test_a_lead_downloads_a_raven_selection_table(
    celery_worker_process, live_server, page, login, lead, labeled_project
):
    """A table Raven opens: tab-separated, a selection per segment and per clip label."""
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{labeled_project.pk}/exports/")
    page.check("[data-testid=format-raven]")
    assert page.is_visible(".format-help[data-for=raven]")
    page.click("[data-testid=start-export]")
    page.wait_for_selector("[data-testid=export-job][data-status=done]", timeout=60_000)
    assert "24 selections" in page.inner_text("[data-testid=export-job]")
    with page.expect_download() as info:
        page.click("[data-testid=export-job][data-status=done] [data-testid=download]")
    download = info.value
    assert download.suggested_filename.endswith(".txt")
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert len(rows) == 24 and rows[0]["View"] == "Spectrogram 1"
    assert {(r["Kind"], r["Begin Time (s)"], r["End Time (s)"]) for r in rows} == {
        ("clip", "0", "3"),
        ("segment", "0.5", "1.5"),
    }


def test_the_label_studio_config_shown_follows_the_clip_labels_form(
    live_server, page, login, lead, labeled_project
):
    """Choosing "choices" still showed the Taxonomy config: a lead copying it into Label
    Studio got a config that refuses the exported results."""
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{labeled_project.pk}/exports/")
    page.check("[data-testid=format-label_studio]")
    page.click("summary:has-text('Labeling config for Label Studio')")
    assert "<Taxonomy" in page.inner_text("[data-testid=ls-config]")
    page.select_option("select[name=clip_labels]", "choices")
    assert page.is_hidden("[data-testid=ls-config]")
    assert '<Choices name="clip_label"' in page.inner_text("[data-testid=ls-config-choices]")
