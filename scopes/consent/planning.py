"""The consent page's scope lines from the grant's rows, pure (the consent flow and the explain page)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from accounts.models import Membership
from scopes.access.applications import AppScope
from scopes.access.policy import AppPolicy, policy_refusal
from scopes.access.resources import registered_resources
from scopes.access.rows import GrantRows
from scopes.access.scope_registry import RegistrySnapshot
from scopes.access.standing import assess
from scopes.consent.rules import ConsentPlan, plan_consent
from scopes.constants import Reach
from scopes.registry import grant_reaches


def own_only(reaches: Mapping[str, str]) -> frozenset[str]:
    """The scopes a role holds only on the person's own objects: photos and albums, not sign-in.

    "Own" means something only for a scope that acts on a registered resource's objects (named
    `<resource family>.<action>`, as `photos.delete` beside the resource's `photos.read`); an
    identity scope such as `profile.read` is granted "own" but concerns no object.
    """
    families = {r.read_scope.rsplit(".", 1)[0] for r in registered_resources().values()}
    return frozenset(
        name for name, reach in reaches.items() if reach == Reach.OWN and name.rsplit(".", 1)[0] in families
    )


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
    reaches = grant_reaches(rows.role_grants if rows else (), implications)
    plan = plan_consent(
        requested=requested,
        app_scopes=app_scopes,
        role_covered=frozenset(reaches),
        implications=implications,
        descriptions=registry.descriptions,
        previously_granted=previous,
        role_label=membership.role.name,
        tenant_label=membership.tenant.name,
        tenant_cap=policy.cap_closure(implications),
        own_only=own_only(reaches),
    )
    if not policy.usable:
        return replace(plan, policy_refusal=policy_refusal(policy, membership.tenant.name))
    return plan
