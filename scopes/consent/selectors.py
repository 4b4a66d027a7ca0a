"""Reads for the consent pages: what the page shows a member, and a user's consents."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, User
from scopes.access.applications import app_scopes
from scopes.access.personal_tokens import PERSONAL_TOKENS_CLIENT_ID
from scopes.access.rows import grant_rows
from scopes.access.selectors import registry
from scopes.consent.planning import plan_from
from scopes.consent.rules import ConsentPlan
from scopes.models import Application, Consent


def consent_plan(
    application: Application, membership: Membership, requested: list[str], *, fresh: bool
) -> ConsentPlan:
    """What the consent page would show this member for these scopes (the admin's explain page)."""
    rows = grant_rows(
        user_id=membership.user_id, tenant_id=membership.tenant_id, application_id=application.pk
    )
    return plan_from(
        rows,
        membership=membership,
        app_scopes=app_scopes(application),
        registry=registry(),
        requested=requested,
        fresh=fresh,
    )


def consents_of(user: User) -> QuerySet[Consent]:
    """A user's consents in active tenants, for the connected-apps page."""
    return (
        Consent.objects.filter(user=user, tenant__is_active=True)
        # Personal access tokens have their own page (scopes.machines.views).
        .exclude(application__client_id=PERSONAL_TOKENS_CLIENT_ID)
        .select_related("tenant", "application")
        .prefetch_related("scopes")
        .order_by("tenant__name", "application__name")
    )
