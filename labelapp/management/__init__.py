"""Helpers shared by Earmark's management commands."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError


def project_or_error(ref: str):
    """The project named by id or name, or a CommandError that says none is."""
    from labelapp.errors import DomainError
    from labelapp.services.projects import project_resolve

    try:
        return project_resolve(ref)
    except DomainError as exc:
        raise CommandError(exc.message) from None


def file_to_write(ref: str) -> Path:
    """`--out FILE` as a path that can be written, or a CommandError that says why not (a
    missing folder, a folder given for a file) before any work is done."""
    path = Path(ref)
    if path.is_dir() or str(ref).endswith(("/", "\\")):
        # "out/dir/" (not there yet) named a folder, and a file called "dir" was written
        raise CommandError(f"cannot write {ref}: it is a folder; name a file in it")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise CommandError(f"cannot write {path}: {folder} is not a folder")
    return path
