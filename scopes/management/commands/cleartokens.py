"""django-oauth-toolkit's `cleartokens`, tenant by tenant: run by the application's runtime role, which
row-level security confines to the tenants a transaction enters (docs/security.md). DOT's own
command would enter none and so, as that role, delete nothing and say nothing; this one enters
each tenant in turn (one transaction each, so no lock is held across tenants) and runs DOT's
`clear_expired` there. It replaces DOT's command (`scopes` comes before `oauth2_provider` in
INSTALLED_APPS). Schedule it daily (docs/deployment.md).

Then it deletes the self-registered apps nobody uses (docs/security.md, "Self-registered
clients"): registered from a client ID metadata document whose cached lifetime has passed, or by
RFC 7591 more than DYNAMIC_REGISTRATION_UNUSED_DAYS ago, and referred to by no row in any tenant (token, code, consent, decision, request, usage). DOT's
`clearcimdapplications` would look for those rows as the runtime role without entering a tenant,
see none, and delete apps in use; here each tenant is entered under a lock on the apps, so a token
issued meanwhile waits for the decision instead of being deleted with its app.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import clear_expired

from accounts import tenancy
from accounts.models import Tenant
from scopes.models import Application, ApplicationScope

BATCH = 500


def _referrers() -> list[tuple[type[models.Model], str]]:
    """Every model whose rows point at an app (its own scope links aside), and the column."""
    return [
        (rel.related_model, rel.field.attname)
        for rel in Application._meta.get_fields(include_hidden=True)  # related_name="+" included
        if rel.auto_created
        and not rel.concrete
        and (rel.one_to_many or rel.one_to_one)
        and rel.related_model is not ApplicationScope
    ]


def expired_registrations() -> Q:
    """Self-registered apps past their time: a client ID metadata document whose cached lifetime
    has passed, or an RFC 7591 registration older than DYNAMIC_REGISTRATION_UNUSED_DAYS."""
    now = timezone.now()
    return Q(registration_source=Application.RegistrationSource.CIMD, cimd_expires_at__lt=now) | Q(
        registration_source=Application.RegistrationSource.DCR,
        created__lt=now - timedelta(days=settings.DYNAMIC_REGISTRATION_UNUSED_DAYS),
    )


def clear_unused_registrations(tenants: list[int]) -> int:
    """Delete expired self-registered apps no row refers to in any tenant; how many were deleted."""
    deleted, after = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Application.objects.select_for_update()
                .filter(expired_registrations(), pk__gt=after)
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH]
            )
            if not batch:
                return deleted
            after = batch[-1]
            used: set[int] = set()
            passes: list[int | None] = [*tenants] or [None]  # without row-level security: one pass sees all
            for tenant_id in passes:
                if tenant_id is not None:
                    tenancy.enter(tenant_ids=[tenant_id])
                for model, column in _referrers():
                    rows = model._base_manager.filter(**{f"{column}__in": batch})
                    used.update(rows.values_list(column, flat=True))
            unused = sorted(set(batch) - used)
            Application.objects.filter(pk__in=unused).delete()
            deleted += len(unused)


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
        unused = clear_unused_registrations(tenants)
        self.stdout.write(f"Deleted {unused} unused self-registered app(s).")
