"""Reads for the consent pages: what the page shows a member, and a user's consents."""

from __future__ import annotations

from dataclasses import replace

from django.db.models import QuerySet

from accounts.models import Membership, User
from scopes.access.policy import AppPolicy, policy_refusal
from scopes.access.rows import grant_rows
from scopes.access.selectors import registry, role_reaches
from scopes.access.standing import assess
from scopes.consent.rules import AppScope, ConsentPlan, plan_consent
from scopes.machines.models import PERSONAL_TOKENS_CLIENT_ID
from scopes.models import Application, ApplicationScope, Consent


def app_scopes(application: Application) -> dict[str, AppScope]:
    """The scopes an app may ask for, with its `required` flag and reason (from the database)."""
    links = ApplicationScope.objects.filter(application_id=application.pk).values_list(
        "scope__name", "required", "reason"
    )
    return {name: AppScope(required, reason) for name, required, reason in links}


def consent_plan(
    application: Application, membership: Membership, requested: list[str], *, fresh: bool
) -> ConsentPlan:
    """What the consent page shows this member for these scopes (fresh: ignore remembered consent)."""
    snapshot = registry()
    previous: list[str] = []
    # The grant's rows as the standing reads them (one query): remembered consent and the
    # tenant's app policy for this app (scopes.tenant_policy).
    rows = grant_rows(
        user_id=membership.user_id, tenant_id=membership.tenant_id, application_id=application.pk
    )
    if not fresh and rows is not None:
        # Remembered consent counts for what still stands of it (consent ∩ app ∩ cap ∩ role, today).
        standing = assess(rows, issued=rows.consented, implications=snapshot.implications)
        previous = list(standing.effective) if standing.stands else []
    policy = rows.policy if rows is not None else AppPolicy()
    plan = plan_consent(
        requested=requested,
        app_scopes=app_scopes(application),
        role_covered=frozenset(role_reaches(membership.role_id)),
        implications=snapshot.implications,
        descriptions=snapshot.descriptions,
        previously_granted=previous,
        role_label=membership.role.name,
        tenant_label=membership.tenant.name,
        tenant_cap=policy.cap_closure(snapshot.implications),
    )
    if not policy.usable:
        return replace(plan, policy_refusal=policy_refusal(policy, membership.tenant.name))
    return plan


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
