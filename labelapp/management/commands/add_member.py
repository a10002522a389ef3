from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labelapp.management import project_or_error
from labelapp.services.projects import membership_set

PASSWORD_ENV = "EARMARK_PASSWORD"  # noqa: S105 - the name of a variable, not a password


class Command(BaseCommand):
    help = (
        f"Add a user to a project with a role. With --create-user the password is read from "
        f"the {PASSWORD_ENV} environment variable, never from an argument."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("username")
        parser.add_argument("--role", choices=["lead", "reviewer", "annotator"], required=True)
        parser.add_argument("--create-user", action="store_true")

    def handle(self, *args, project, username, role, create_user=False, **opts):
        User = get_user_model()
        proj = project_or_error(project)
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"no user named {username!r} (use --create-user)")
            other = User.objects.filter(username__iexact=username).first()
            if other is not None:  # "LEAD" beside "lead", as Django's account form refuses
                raise CommandError(
                    f"an account {other.get_username()!r} exists: name it so, without --create-user"
                )
            password = os.environ.get(PASSWORD_ENV)
            if not password:
                raise CommandError(f"set {PASSWORD_ENV} to the new user's password")
            # The password page's rules hold here too ("short" and "password" were taken).
            try:
                validate_password(password, User(username=username))
            except ValidationError as exc:
                raise CommandError(f"{PASSWORD_ENV}: {' '.join(exc.messages)}") from None
            user = User.objects.create_user(username=username, password=password)
            self.stdout.write(f"created user {username}")
        membership_set(project=proj, user=user, role=role)
        self.stdout.write(f"{username} is {role} of {proj.name}")
