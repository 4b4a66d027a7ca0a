"""Register an OAuth client from a shell: django-oauth-toolkit's `createapplication`, replaced.

DOT's command writes the row directly: it could set what this server does not support (an implicit
grant, "skip authorization", an algorithm), and it cannot say what the app may ask for, who
publishes it or which tenant owns it, so the app it makes can be used for nothing. This one takes
those too and writes through the services the admin's rules live in (`application_save`,
`application_scopes_set`), audited as this command. It wins over DOT's because `scopes` comes
before `oauth2_provider` in INSTALLED_APPS. For many apps kept in version control, see
`apply_config` (docs/config-as-code.md).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from oauth2_provider.generators import generate_client_id, generate_client_secret

from accounts.models import Tenant
from accounts.services import audit_source
from scopes.models import SUPPORTED_GRANT_TYPES, Application, Scope
from scopes.services import AllowedScope, application_save, application_scopes_set


class Command(BaseCommand):
    help = (
        "Register an OAuth client with the scopes it may ask for, its publisher and its owning tenant. "
        "A confidential client's secret is generated (unless given), printed once and stored hashed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_type", choices=[c for c, _ in Application.CLIENT_TYPES])
        parser.add_argument("authorization_grant_type", choices=[g for g, _ in SUPPORTED_GRANT_TYPES])
        parser.add_argument("--name", required=True, help="Shown on the consent page.")
        parser.add_argument("--client-id", help="Default: a random one.")
        parser.add_argument("--client-secret", help="A confidential client's secret (default: generated).")
        parser.add_argument("--redirect-uris", default="", help="Space-separated, matched exactly.")
        parser.add_argument("--post-logout-redirect-uris", default="", help="Space-separated.")
        parser.add_argument(
            "--publisher", default="", help="Who publishes the app, shown on the consent page."
        )
        parser.add_argument(
            "--tenant", help="The slug of the only tenant the app may be used in (default: any)."
        )
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            metavar="NAME",
            help="A scope the app may ask for (repeat).",
        )
        parser.add_argument(
            "--required",
            action="append",
            default=[],
            metavar="NAME",
            help="One of --scope the user cannot untick.",
        )
        parser.add_argument(
            "--reason",
            action="append",
            default=[],
            metavar="NAME=TEXT",
            help='The app\'s reason for a scope, shown to the user: --reason "photos.read=to show your photos".',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = {s.name: s for s in Scope.objects.filter(name__in=options["scope"])}
        unknown = sorted(set(options["scope"]) - set(scopes))
        if unknown:
            raise CommandError(f"Unknown scope(s): {', '.join(unknown)}.")
        reasons = dict(item.split("=", 1) for item in options["reason"] if "=" in item)
        stray = sorted((set(options["required"]) | set(reasons)) - set(scopes))
        if stray or len(reasons) != len(options["reason"]):
            raise CommandError(
                f"--required and --reason name scopes given with --scope (not: {', '.join(stray)})."
            )
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
        confidential = options["client_type"] == Application.CLIENT_CONFIDENTIAL
        secret = (options["client_secret"] or generate_client_secret()) if confidential else ""
        app = Application(
            client_id=options["client_id"] or generate_client_id(),
            client_secret=secret,
            hash_client_secret=True,
            client_type=options["client_type"],
            authorization_grant_type=options["authorization_grant_type"],
            name=options["name"],
            publisher=options["publisher"],
            redirect_uris=options["redirect_uris"],
            post_logout_redirect_uris=options["post_logout_redirect_uris"],
            tenant=tenant,
        )
        allowed = [
            AllowedScope(scopes[name], required=name in options["required"], reason=reasons.get(name, ""))
            for name in sorted(scopes)
        ]
        try:
            with audit_source("manage.py createapplication"), transaction.atomic():
                application_save(actor=None, application=app)
                application_scopes_set(actor=None, application=app, allowed=allowed)
        except ValidationError as error:
            found = error.message_dict.items() if hasattr(error, "error_dict") else [("", error.messages)]
            raise CommandError("; ".join(f"{k}: {' '.join(v)}".lstrip(": ") for k, v in found)) from error
        self.stdout.write(f"New application {app.name} created, client_id {app.client_id}.")
        if confidential and not options["client_secret"]:
            self.stdout.write(f"Client secret (shown once, stored hashed): {secret}")
