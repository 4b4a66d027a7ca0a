"""The tenant app policy as pure rules: may an app be used in a tenant, and with what cap.

In the core because the standing reads it; `scopes.tenant_policy` stores it, edits it and files
members' requests.
Shared by the grant's standing (`scopes.access.standing.assess`) and the consent page, so the page
never offers what the next API call would refuse. The SQL fragment that reads the inputs joins
the standing's one statement (`POLICY_COLUMNS`, `POLICY_JOINS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from scopes.registry import Implications, closure


class AppPolicyMode(StrEnum):
    """A tenant's policy for third-party apps."""

    ANY = "any"  # every app may be used, except those the tenant blocked (the default)
    APPROVED_ONLY = "approved"  # only apps the tenant approved (and its own apps)


class SecondFactorRule(StrEnum):
    """Whom a tenant requires to have a second factor (docs/security.md, "Sign-in levels and step-up")."""

    NOBODY = ""
    ADMINS = "admins"  # members whose role holds tenant.admin
    MEMBERS = "members"  # every member


TENANT_ADMIN_SCOPE = "tenant.admin"


def second_factor_missing(
    rule: str | None, *, has_factor: bool, role_grants: Iterable[tuple[str, str]], implications: Implications
) -> bool:
    """Whether the tenant's rule requires this member to have a second factor, and they have none."""
    if has_factor or not rule:
        return False
    if rule == SecondFactorRule.MEMBERS:
        return True
    held = closure((name for name, _reach in role_grants), implications)
    return rule == SecondFactorRule.ADMINS and TENANT_ADMIN_SCOPE in held


def second_factor_detail(tenant_name: str) -> str:
    """The sentence every refusal by the rule uses (API, consent page, explain)."""
    return f"{tenant_name} requires a second factor, and the user has not set one up"


class AppStatus(StrEnum):
    """Where one app stands in one tenant."""

    APPROVED = "approved"
    BLOCKED = "blocked"
    PENDING = "pending"


@dataclass(frozen=True)
class AppPolicy:
    """What the database holds about (tenant, app): the tenant's mode, the app's status and cap."""

    mode: str | None = None  # None: no policy row, i.e. ANY
    status: str | None = None  # None: never decided
    capped: bool = False
    cap: tuple[str, ...] = ()
    app_owned_here: bool = False  # the app belongs to this tenant (its own app)
    domain_blocked: bool = False  # a self-registered app whose client ID's domain the tenant blocks
    dynamic_refused: bool = False  # registered by RFC 7591, which the tenant has not allowed
    second_factor: str | None = None  # the tenant's SecondFactorRule (None: no policy row)

    @property
    def usable(self) -> bool:
        """Blocked never; under approved-only, approved (or the tenant's own app); else yes."""
        if self.status == AppStatus.BLOCKED or self.domain_blocked:
            return False
        if self.mode == AppPolicyMode.APPROVED_ONLY:
            return self.status == AppStatus.APPROVED or self.app_owned_here
        if self.dynamic_refused:
            return self.status == AppStatus.APPROVED  # approved one by one, or not at all
        return True

    def cap_closure(self, implications: Implications) -> frozenset[str] | None:
        """The closed set of scopes the tenant lets this app use (None: no cap)."""
        if not self.capped:
            return None
        return frozenset(closure(self.cap, implications))


def blocked_detail(tenant_name: str) -> str:
    """The sentence every refusal by the policy uses (API, consent page, explain)."""
    return f"blocked by {tenant_name}'s app policy"


def policy_refusal(policy: AppPolicy, tenant_name: str) -> str:
    """Why the consent page cannot offer the app in this tenant, for the member to read."""
    if policy.status == AppStatus.BLOCKED:
        return f"This app is {blocked_detail(tenant_name)}: its administrators have blocked it."
    if policy.dynamic_refused and policy.mode != AppPolicyMode.APPROVED_ONLY:
        return (
            f"This app is {blocked_detail(tenant_name)}: it registered itself by dynamic registration, "
            f"which {tenant_name} allows only for apps its administrators have approved. You can ask them."
        )
    if policy.domain_blocked:
        return (
            f"This app is {blocked_detail(tenant_name)}: its administrators have blocked the "
            "domain it registered itself from."
        )
    return (
        f"This app is {blocked_detail(tenant_name)}: {tenant_name} allows only apps its administrators "
        "have approved, and has not approved this one yet. You can ask them."
    )


# Joined into the standing's statement (`scopes.access.standing._grant_sql`): the tenant's mode, the
# app's status in the tenant, whether it is capped, the cap's scope names, whether the tenant
# blocks the domain of a self-registered app's client ID, and whether the app registered itself
# by RFC 7591 in a tenant that has not allowed that (`a` is the app: the domain itself, or a
# name under it; a domain holds only letters, digits, dots and hyphens, so LIKE's `_` never occurs);
# `pol.second_factor` is the tenant's second-factor rule.
POLICY_COLUMNS = """pol.mode, pol.second_factor, tap.status, tap.capped,
        (SELECT {aggregate} FROM scopes_tenantapp_cap tc
            JOIN scopes_scope s ON s.id = tc.scope_id WHERE tc.tenantapp_id = tap.id),
        EXISTS (SELECT 1 FROM scopes_blockedclientdomain bd WHERE bd.tenant_id = src.tenant_id
            AND a.client_host <> '' AND (a.client_host = bd.domain OR a.client_host LIKE '%%.' || bd.domain)),
        (a.registration_source = 'dcr' AND NOT COALESCE(pol.dynamic_clients, FALSE))"""

DOMAIN_PATTERN = r"^(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\Z"


def domain_covers(domain: str, host: str) -> bool:
    """Whether a blocked `domain` covers `host`: the domain itself or a name under it (the SQL above)."""
    return bool(host) and (host == domain or host.endswith("." + domain))


POLICY_JOINS = """
    LEFT JOIN scopes_tenantapppolicy pol ON pol.tenant_id = src.tenant_id
    LEFT JOIN scopes_tenantapp tap ON tap.tenant_id = src.tenant_id
        AND tap.application_id = src.application_id"""
