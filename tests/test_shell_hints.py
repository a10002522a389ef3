"""The pages' shell hints (`python manage.py import_audio ...`) name the project by its id: a
lead's project name inside double quotes ran whatever `$( )` or backticks it held in the shell
of whoever pasted the hint (a security tester's `$(touch ...)` did), and a name with a quote
or a `$5` split or lost part of the argument."""

from __future__ import annotations

import pytest
from django.test import Client

from labelapp.models import Project

pytestmark = pytest.mark.django_db

NAME = 'Secret "Birds" $(touch /tmp/pwned) `id` $5'


@pytest.mark.parametrize("page", ["/projects/{pk}/", "/projects/{pk}/ontology/"])
def test_a_shell_hint_names_the_project_by_its_id(lead, project, page):
    Project.objects.filter(pk=project.pk).update(name=NAME)
    client = Client()
    client.force_login(lead)
    html = client.get(page.format(pk=project.pk)).content.decode()
    hints = [line for line in html.splitlines() if "manage.py import_" in line]
    assert hints, "the page has no import hint"
    for line in hints:
        assert "manage.py import_" in line and f" {project.pk} " in line, line
        assert "touch" not in line and "$5" not in line, line
