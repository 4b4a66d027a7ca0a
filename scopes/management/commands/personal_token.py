"""Make a personal access token for a person from a shell: the quickest way to a `$TOKEN`.

It is exactly what that person would get at /account/tokens/ (`personal_token_create`, with them as
the actor: the same role cap, tenant policy, lifetime limit and audit row), made by whoever can
run commands against the database, which already holds every power. The audit row says it came
from this command. Prints the value only, so `export TOKEN=$(manage.py personal_token ...)` works.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import tenancy
from accounts.models import Tenant, User
from accounts.services import audit_source
from scopes.machines.services import personal_token_create


def validation_message(error: ValidationError) -> str:
    """A refusal from a service as one line for a terminal."""
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Make a personal access token (gpat_...) for USERNAME in one organisation, as /account/tokens/ "
        "would, and print it. Scopes beyond the person's role there are refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="The organisation's slug (acme).")
        parser.add_argument(
            "--scope", required=True, help='Space-separated scopes, e.g. "photos.read photos.upload".'
        )
        parser.add_argument("--days", type=int, default=1, help="Lifetime in days (default 1).")
        parser.add_argument("--name", default="from a shell", help="The token's name on /account/tokens/.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        tenant = Tenant.objects.filter(slug=options["tenant"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['username']!r}.")
        if tenant is None:
            raise CommandError(f"No active organisation {options['tenant']!r}.")
        try:
            with audit_source("manage.py personal_token"), tenancy.tenant_scope(tenant.pk):
                _, value = personal_token_create(
                    actor=user,
                    tenant=tenant,
                    name=options["name"],
                    scopes=options["scope"].split(),
                    days=options["days"],
                )
        except ValidationError as error:
            raise CommandError(validation_message(error)) from error
        self.stdout.write(value)
