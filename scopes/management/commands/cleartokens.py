"""django-oauth-toolkit's `cleartokens`, tenant by tenant: run by the application's runtime role, which
row-level security confines to the tenants a transaction enters (docs/security.md). DOT's own
command would enter none and so, as that role, delete nothing and say nothing; this one enters
each tenant in turn (one transaction each, so no lock is held across tenants) and runs DOT's
`clear_expired` there. It replaces DOT's command (`scopes` comes before `oauth2_provider` in
INSTALLED_APPS). Schedule it daily (docs/deployment.md).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from oauth2_provider.models import clear_expired

from accounts import tenancy
from accounts.models import Tenant


class Command(BaseCommand):
    help = "Delete expired access and refresh tokens, authorization codes and ID tokens, in every tenant."

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
        if not tenancy.rls_enforced():
            clear_expired()  # one pass sees every tenant
            tenants = []
        for tenant_id in tenants:
            with tenancy.tenant_scope(tenant_id):
                clear_expired()
        self.stdout.write(f"Cleared expired tokens and codes ({len(tenants) or 'every'} tenant(s)).")
