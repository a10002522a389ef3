"""A lead drops hostile files on the project page (the browser's path is the upload API):
each gets a line with a clear reason, nothing is imported, the page stays usable."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from tests.faults.hostile import write_corpus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hostile_files_dropped_on_the_page_are_refused_with_reasons(
    live_server, page, login, lead, project, tmp_path, screenshot
):
    corpus = write_corpus(tmp_path / "hostile")
    files = [str(corpus["ten-hours-192k.wav"]), str(corpus["id3-claims-256mb.mp3"])]
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.set_input_files("[data-testid=file-input]", files)
    page.wait_for_selector("[data-testid=upload-summary][data-done=true]", timeout=30_000)
    summary = page.inner_text("[data-testid=upload-summary]")
    assert "2 of 2 files" in summary and "2 rejected" in summary, summary
    report = page.inner_text("[data-testid=upload-report]")
    assert "ten-hours-192k.wav: rejected" in report and "10.0 h" in report, report
    assert "id3-claims-256mb.mp3: rejected" in report and "ID3 tag" in report, report
    assert "Server Error" not in page.content()
    screenshot(page, "hostile-upload-refused")
    assert not Clip.objects.exists()


def test_a_rejected_name_with_a_right_to_left_override_keeps_its_reason_readable(
    live_server, page, login, lead, project, tmp_path
):
    """A name holding U+202E is refused, and its report line printed it raw: the override
    turned the reason after it around ("...eman elif — detcejer")."""
    import shutil

    corpus = write_corpus(tmp_path / "hostile")
    odd = tmp_path / "evil\u202egnp.wav"
    shutil.copy(corpus["ten-hours-192k.wav"], odd)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.set_input_files("[data-testid=file-input]", [str(odd)])
    page.wait_for_selector("[data-testid=upload-summary][data-done=true]", timeout=30_000)
    line = page.locator("[data-testid=upload-report] .outcome-rejected")
    assert line.locator("bdi").inner_text() == odd.name
    # The reason is laid out left to right after the name: its first word left of its last.
    boxes = line.evaluate(
        """(li) => { const text = li.lastChild; const r = document.createRange();
          const s = text.textContent; const at = (i) => { r.setStart(text, i);
          r.setEnd(text, i + 1); return r.getBoundingClientRect().left; };
          return [at(2), at(s.length - 1)]; }"""
    )
    assert boxes[0] < boxes[1], boxes
    assert not Clip.objects.exists()
