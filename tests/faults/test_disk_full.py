"""A full disk (or an unwritable media directory) during an upload: a clear per-file error,
no Clip row, no half-written file left in the media store.

The real variant mounts a 1 MB tmpfs as the media root (root only; it skips otherwise); the
portable one writes through a storage that answers ENOSPC, which is what the kernel says.
The unwritable-directory case lives in tests/test_imports.py."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage

from labelapp.models import Clip, ImportJob
from labelapp.services.imports import ImportItem, clip_import

pytestmark = pytest.mark.django_db


def _upload(client, project, *paths: Path):
    handles = [open(p, "rb") for p in paths]  # noqa: SIM115
    try:
        return client.post(
            f"/api/projects/{project.pk}/clips/", {"files": handles}, format="multipart"
        )
    finally:
        for fh in handles:
            fh.close()


@pytest.fixture
def tiny_media(settings, tmp_path):
    """A 1 MB tmpfs as MEDIA_ROOT: writes past it fail with ENOSPC, as on a full disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the ENOSPC storage test covers the logic")
    mount_point = tmp_path / "tiny-media"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    settings.MEDIA_ROOT = str(mount_point)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_full_disk_rejects_the_file_clearly_and_leaves_nothing(
    tiny_media, client_for, lead, project, wav_factory
):
    small = wav_factory("fits.wav", seconds=0.5, sr=8000)  # 8 KB
    big = wav_factory("too-big.wav", seconds=60, sr=16000)  # 1.9 MB > 1 MB of disk
    response = _upload(client_for(lead), project, small, big)
    assert response.status_code == 201  # the small one made it
    report = {f["name"]: f for f in response.json()["files"]}
    assert report["fits.wav"]["status"] == "imported"
    assert report["too-big.wav"]["status"] == "rejected"
    assert "No space left on device" in report["too-big.wav"]["error"]
    assert list(Clip.objects.values_list("original_name", flat=True)) == ["fits.wav"]
    stored = [p.name for p in _files_under(tiny_media)]
    assert len(stored) == 1 and stored[0].endswith(".wav"), stored  # no half-written file
    job = ImportJob.objects.get()
    assert (job.imported, job.rejected) == (1, 1)


class FullDiskStorage(FileSystemStorage):
    """Writes a few bytes, then fails the way a full disk does."""

    def _save(self, name, content):
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_enospc_from_the_storage_is_a_clear_rejection_without_rows_or_files(
    project, wav_factory, settings, tmp_path, monkeypatch
):
    from django.core.files import storage as storage_module

    full = FullDiskStorage(location=tmp_path / "media")
    monkeypatch.setattr(storage_module.default_storage, "_wrapped", full)
    outcome = clip_import(project=project, item=ImportItem(name="a.wav", path=wav_factory()))
    assert outcome.status == "rejected"
    assert "No space left on device" in outcome.error
    assert not Clip.objects.exists()
    # the partial write is removed: a retry must not take it for the complete original
    assert _files_under(tmp_path / "media") == []
