"""Write the configuration (scopes, roles and grants, apps, tenant policies) as one document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts import tenancy
from accounts.models import Tenant
from scopes.config.document import dump
from scopes.config.state import current


class Command(BaseCommand):
    help = (
        "Write scopes and implications, roles and grants, apps with their scopes, tenant app policies, "
        "caps and token policies as one YAML (or JSON) document, for version control and apply_config. "
        "No secret is ever written. Format: docs/config-as-code.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            # Every tenant's roles and policies: on PostgreSQL row-level security shows only what is entered.
            tenancy.enter(tenant_ids=Tenant.objects.values_list("pk", flat=True))
            text = dump(current(), fmt=options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text)
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text, ending="")
