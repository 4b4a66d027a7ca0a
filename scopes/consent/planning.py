"""The consent page's scope lines from the grant's rows, pure (the consent flow and the explain page)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from accounts.models import Membership
from scopes.access.applications import AppScope
from scopes.access.policy import AppPolicy, policy_refusal
from scopes.access.rows import GrantRows
from scopes.access.scope_registry import RegistrySnapshot
from scopes.access.standing import assess
from scopes.consent.rules import ConsentPlan, plan_consent
from scopes.registry import grant_reaches


def plan_from(
    rows: GrantRows | None,
    *,
    membership: Membership,
    app_scopes: Mapping[str, AppScope],
    registry: RegistrySnapshot,
    requested: Iterable[str],
    fresh: bool,
) -> ConsentPlan:
    """What the page shows this member for these scopes (fresh: ignore remembered consent)."""
    implications = registry.implications
    previous: list[str] = []
    if not fresh and rows is not None:
        # Remembered consent counts for what still stands of it (consent ∩ app ∩ cap ∩ role, today).
        standing = assess(rows, issued=rows.consented, implications=implications)
        previous = list(standing.effective) if standing.stands else []
    policy = rows.policy if rows is not None else AppPolicy()
    plan = plan_consent(
        requested=requested,
        app_scopes=app_scopes,
        role_covered=frozenset(grant_reaches(rows.role_grants if rows else (), implications)),
        implications=implications,
        descriptions=registry.descriptions,
        previously_granted=previous,
        role_label=membership.role.name,
        tenant_label=membership.tenant.name,
        tenant_cap=policy.cap_closure(implications),
    )
    if not policy.usable:
        return replace(plan, policy_refusal=policy_refusal(policy, membership.tenant.name))
    return plan
