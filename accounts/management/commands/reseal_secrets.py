"""`manage.py reseal_secrets`: seal every stored webhook secret again with the first AUDIT_SECRET_KEY.

Rotation: deploy `AUDIT_SECRET_KEY=new,old`, run this, then drop `old`. It enters each tenant in
turn (the table is behind row-level security), so it runs as the application's runtime role.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit_stream.models import AuditWebhook
from accounts.models import Tenant
from accounts.sealed import UnreadableSecret
from accounts.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Seal every audit webhook secret again with the first AUDIT_SECRET_KEY (key rotation)."

    def handle(self, *args: Any, **options: Any) -> None:
        resealed = unreadable = 0
        for tenant_id in Tenant.objects.order_by("pk").values_list("pk", flat=True):
            with tenant_scope(tenant_id):
                for pk, secret in AuditWebhook.objects.filter(tenant_id=tenant_id).values_list(
                    "pk", "secret"
                ):
                    if isinstance(secret, UnreadableSecret):
                        unreadable += 1
                        self.stderr.write(f"webhook {pk}: no configured key opens its secret; left as it is")
                        continue
                    AuditWebhook.objects.filter(pk=pk).update(secret=secret)  # sealed with the first key
                    resealed += 1
        self.stdout.write(f"resealed {resealed}, unreadable {unreadable}")
