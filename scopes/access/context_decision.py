"""The decision for a loaded authorization context: what the API, explain and the what-if preview ask.

`decide` is pure and takes plain inputs; these helpers read them off an `AuthorizationContext`
(the token's scopes, the role's grants, the tenant it was issued for), so every caller that holds
a context asks exactly what the API asks. They live in the core, below every feature package, so
that a feature (the admin's explain page, the usage preview) can ask them without importing the
API framework built on top (docs/architecture.md).
"""

from __future__ import annotations

from django.utils import timezone

from accounts.authn import NONE as NO_REQUIREMENT
from scopes.access.decision import Decision, Target, decide
from scopes.access.standing import AuthorizationContext


def tenant_problem(context: AuthorizationContext, tenant_slug: str) -> str | None:
    """Why this token cannot be used in the URL's tenant (None: it can)."""
    if context.tenant.slug != tenant_slug:
        return "the token was issued for another tenant, or the tenant does not exist"
    if not context.tenant.is_active:
        return "the tenant is inactive"
    if not context.is_member:
        return "the user is not a member of the tenant"
    return None


def decide_for(
    context: AuthorizationContext,
    *,
    tenant_slug: str,
    action_scope: str,
    read_scope: str | None,
    target: Target | None,
    resource: str | None,
) -> Decision:
    """The decision for a loaded authorization context: what the API and the admin's explain page ask.

    `resource` is the identifier of the resource the request is at (scopes.access.audience); a
    token bound to another is refused (`wrong_resource`).
    """
    now = timezone.now()
    return decide(
        action_scope=action_scope,
        read_scope=read_scope,
        token_scopes=context.token_scopes,
        role_grants=context.role_grants,
        implications=context.implications,
        token_problem=context.problem(now),
        tenant_problem=tenant_problem(context, tenant_slug),
        role_name=context.role_name,
        tenant_name=context.tenant.name,
        target=target,
        albums=context.albums,
        audience=context.audience,
        resource=resource,
        sign_in=context.sign_in,
        requirement=context.requirements.get(action_scope, NO_REQUIREMENT),
        now=now,
    )


def target_for(
    context: AuthorizationContext,
    *,
    tenant_id: int | None,
    owner_id: int | None,
    album_id: int | None = None,
    placing: bool = False,
) -> Target:
    """What the decision needs to know about one object, relative to the caller."""
    return Target(
        exists_in_tenant=tenant_id == context.tenant.pk,
        owner_is_user=context.user is not None and owner_id == context.user.pk,
        album_id=album_id,
        placing=placing,
    )
