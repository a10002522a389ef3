"""Helpers shared by Earmark's management commands."""

from __future__ import annotations

from django.core.management.base import CommandError


def project_or_error(ref: str):
    """The project named by id or name, or a CommandError that says none is."""
    from labelapp.errors import DomainError
    from labelapp.services.projects import project_resolve

    try:
        return project_resolve(ref)
    except DomainError as exc:
        raise CommandError(exc.message) from None
