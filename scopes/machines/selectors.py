"""Reads about service accounts and personal access tokens that several callers need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db.models import OuterRef, QuerySet, Subquery

from accounts import tenancy
from accounts.models import Membership, Tenant, User
from scopes.access.applications import app_scopes
from scopes.access.selectors import registry, role_reaches
from scopes.access.standing import effective_expiry
from scopes.constants import ScopeName
from scopes.machines.models import (
    DEFAULT_MAX_DAYS,
    PERSONAL_TOKENS_CLIENT_ID,
    PersonalAccessToken,
    PersonalTokenMode,
    ServiceAccount,
    TokenPolicy,
)
from scopes.models import Application
from scopes.registry import closure


class TokenKind(StrEnum):
    """How a token was issued; introspection and the explain page say it. The decision ignores it."""

    CONSENT = "consent"
    SERVICE = "service"
    PERSONAL = "personal"


def policy_of(tenant: Tenant) -> TokenPolicy:
    """The tenant's token policy (an unsaved default when it has none: allowed, one year)."""
    found = TokenPolicy.objects.filter(tenant=tenant).first()
    return found or TokenPolicy(
        tenant=tenant, personal_tokens=PersonalTokenMode.ALLOWED, max_days=DEFAULT_MAX_DAYS
    )


# Never on a personal token or a service account's: they are never refreshed (offline_access);
# sign-in scopes mean an ID token for an app that signs a person in, which neither is (openid,
# profile, email); and tenant.admin is a right used on the organisation's pages, not by the API.
NOT_FOR_MACHINE_TOKENS = frozenset(
    {ScopeName.OFFLINE_ACCESS, ScopeName.OPENID, ScopeName.PROFILE, ScopeName.EMAIL, ScopeName.TENANT_ADMIN}
)


def scopes_offered(membership: Membership, application: Application) -> list[tuple[str, str]]:
    """Each scope a personal token could carry, with why it is unavailable ("" when it is offered).

    Offered: the personal-token app allows it and the member's role covers it, as on the consent
    page; the rest are shown greyed with the reason. Scopes no personal token carries
    (`NOT_FOR_MACHINE_TOKENS`) are not listed at all.
    """
    snapshot = registry()
    implications = snapshot.implications
    allowed = closure(app_scopes(application), implications)
    covered = frozenset(role_reaches(membership.role_id))
    lines = []
    for name in sorted(allowed):
        if name in NOT_FOR_MACHINE_TOKENS:
            continue
        if closure([name], implications) <= covered:
            lines.append((name, ""))
        else:
            lines.append(
                (name, f"your role {membership.role.name} in {membership.tenant.name} does not allow it")
            )
    return lines


@dataclass(frozen=True)
class PersonalTokenLine:
    """One line of the tokens page: the token and when it stops working under today's policy."""

    token: PersonalAccessToken
    expires: datetime


def with_policy_max_days(found: QuerySet[PersonalAccessToken]) -> QuerySet[PersonalAccessToken]:
    """`found` with each token's tenant's current maximum lifetime (`policy_max_days`), same query."""
    max_days = TokenPolicy.objects.filter(tenant=OuterRef("tenant")).values("max_days")[:1]
    return found.select_related("access_token").annotate(policy_max_days=Subquery(max_days))


def expires_now(personal: PersonalAccessToken) -> datetime:
    """When the token stops working under its tenant's policy today (the standing's rule).

    `personal` comes from `with_policy_max_days`; the rule is `scopes.access.standing.effective_expiry`,
    so the pages show the expiry the API applies (a lowered maximum shortens older tokens).
    """
    max_days = getattr(personal, "policy_max_days", None)
    return effective_expiry(
        personal.access_token.expires,
        created=personal.access_token.created,
        max_days=DEFAULT_MAX_DAYS if max_days is None else max_days,
    )


def personal_tokens_of(user: User) -> list[PersonalTokenLine]:
    """A user's personal access tokens, newest first, with their tenant and effective expiry (one query)."""
    found = with_policy_max_days(
        PersonalAccessToken.objects.filter(user=user).select_related("tenant").order_by("-created_at", "-id")
    )
    return [PersonalTokenLine(token=personal, expires=expires_now(personal)) for personal in found]


def service_account_of(application: Application) -> ServiceAccount | None:
    """The service account a client-credentials app is bound to (enters its tenant on PostgreSQL)."""
    if (
        application.tenant_id is None
        or application.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS
    ):
        return None
    tenancy.include_tenant(application.tenant_id)
    return ServiceAccount.objects.filter(application=application).select_related("user").first()


def token_kind_of(client_id: str | None, grant_type: str | None) -> TokenKind:
    """Which way a token of the app with this client id and grant type was issued (introspection
    reads both with the token's standing: `GrantRows.client_id`, `GrantRows.grant_type`)."""
    if client_id == PERSONAL_TOKENS_CLIENT_ID:
        return TokenKind.PERSONAL
    if grant_type == Application.GRANT_CLIENT_CREDENTIALS:
        return TokenKind.SERVICE
    return TokenKind.CONSENT
