"""The DRF permission class: asks the decision function, for the collection and for each object.

It knows nothing about any resource: a view declares the scope each action needs (`required_scope`),
the scope that decides visibility (`read_scope`) and the field holding the owner (`owner_field`).
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from django.db import models
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import Tenant
from accounts.querysets import TenantQuerySet
from api import bookkeeping, metrics
from api.exceptions import AccessRefused
from api.resource_metadata import decision_resource
from scopes.access.context_decision import decide_for, target_for, tenant_problem
from scopes.access.decision import Decision, Reason, Target, accepted_scopes
from scopes.access.standing import AuthorizationContext
from scopes.constants import Reach


class ScopedView(Protocol):
    """What a view tells the permission layer (see `api.viewsets.TenantScopedViewSet`)."""

    kwargs: dict[str, Any]
    read_scope: str | None
    owner_field: str
    album_field: str | None
    tenant: Tenant | None
    decision: Decision | None
    accepted_oauth_scopes: list[str] | None

    def required_scope(self, request: Request) -> str | None: ...


def restrict(
    queryset: TenantQuerySet,
    *,
    tenant: Tenant,
    user_id: int,
    reach: str | None,
    owner_field: str,
    albums: frozenset[int] | None = None,
    album_field: str | None = None,
) -> models.QuerySet:
    """The list filter for a reach: `tenant` -> all of the tenant's rows, `own` -> the user's, else none.

    The single-object check uses the same reach (`Decision.visible_reach`), so the two cannot drift.
    With an album limit (`albums`), only rows whose `album_field` is one of them (the decision's
    album step, `Target.album_id`); a resource that names no album field shows nothing then.
    """
    rows = restrict_to_albums(queryset.for_tenant(tenant), albums=albums, album_field=album_field)
    if reach == Reach.TENANT:
        return rows
    if reach == Reach.OWN:
        return rows.filter(**{f"{owner_field}_id": user_id})
    return rows.none()


def restrict_to_albums(
    queryset: models.QuerySet, *, albums: frozenset[int] | None, album_field: str | None
) -> models.QuerySet:
    """An album limit as a filter: the list side of `decide`'s album step (None: no limit)."""
    if albums is None:
        return queryset
    if album_field is None or not albums:
        return queryset.none()
    return queryset.filter(**{f"{album_field}__in": sorted(albums)})


def token_context(request: Request) -> AuthorizationContext:
    """`request.auth` on a tenant endpoint: always an `AuthorizationContext` past `has_permission`.

    `TenantScopePermission.has_permission` refuses any other (the DRF stubs type it as authtoken's
    `Token`). This only tells the type checker so: it checks nothing, and so changes nothing.
    """
    return cast(AuthorizationContext, request.auth)


def album_of(obj: models.Model, album_field: str | None) -> int | None:
    """The album an object is in or is (`album_field`: its attribute, e.g. `album_id` or `pk`)."""
    return getattr(obj, album_field, None) if album_field else None


def check_placement(
    request: Request,
    *,
    tenant_slug: str,
    action_scope: str,
    album_id: int | None,
) -> None:
    """Refuse (403 `resource_not_granted`) putting something outside an album-limited token's albums.

    An upload, a move or a new album: the same decision, with the destination as the target.
    Without an album limit it refuses nothing, so unlimited tokens behave as before.
    """
    context = token_context(request)
    if context.albums is None:
        return
    decision = decide_for(
        context,
        tenant_slug=tenant_slug,
        action_scope=action_scope,
        read_scope=None,
        target=Target(exists_in_tenant=True, owner_is_user=True, album_id=album_id, placing=True),
        resource=decision_resource(request, context.audience),
    )
    if not decision.allowed:
        raise AccessRefused(decision)


# --- References: an object named in input (an album id in a photo's body or query) is read, not trusted.
#
# docs/security.md, "Reference checks": a referenced object passes the same decision as reading it, and
# what the caller cannot see is the same answer as what does not exist. So a reference goes through
# exactly the steps of `GET <collection>/<id>/`: the collection decision for the read scope, the
# list filter of its reach (`restrict`), then the object decision. The first step's refusals (no
# token scope, no role grant) come before any row is looked at, so they are the same for every id;
# after it, an object that is missing, in another tenant or outside the reach is one answer: None.


def readable(
    request: Request,
    queryset: TenantQuerySet,
    *,
    tenant_slug: str,
    read_scope: str,
    owner_field: str = "owner",
    album_field: str | None = None,
) -> models.QuerySet:
    """The rows of `queryset` the caller could read with `read_scope`: the list filter of that read.

    Raises `AccessRefused` (403 `scope_missing` / `role_forbids`, or the tenant's 404) when reading
    such objects at all is refused; that answer does not depend on which object is meant. An
    allowed read is put on the request (`api.bookkeeping`): naming an album uses `albums.read`.
    """
    context = token_context(request)
    decision = decide_for(
        context,
        tenant_slug=tenant_slug,
        action_scope=read_scope,
        read_scope=read_scope,
        target=None,
        resource=decision_resource(request, context.audience),
    )
    tenant = context.tenant.instance()  # the querysets want a Tenant; built without a query
    if names_granted_albums(context, decision, album_field):
        # Its albums were granted to it by name (RFC 9396): it may name them without the read scope.
        # The standing already holds them to what the role's `albums.read` lets the user see.
        return restrict_to_albums(queryset.for_tenant(tenant), albums=context.albums, album_field="pk")
    if not decision.allowed:
        raise AccessRefused(decision)
    bookkeeping.scope_allowed(request, read_scope)
    return restrict(
        queryset,
        tenant=tenant,
        user_id=context.user.pk if context.user is not None else -1,
        reach=decision.visible_reach,
        owner_field=owner_field,
        albums=context.albums,
        album_field=album_field,
    )


def names_granted_albums(context: AuthorizationContext, decision: Decision, album_field: str | None) -> bool:
    """An album-limited token naming albums (`album_field` "pk") without the read scope in the token.

    Only `scope_missing` is overlooked: a role without the grant, a token problem or another
    tenant refuse as always.
    """
    return (
        context.albums is not None
        and album_field == "pk"
        and not decision.allowed
        and decision.reason == Reason.SCOPE_MISSING
    )


def resolve_reference(
    request: Request,
    queryset: TenantQuerySet,
    pk: int,
    *,
    tenant_slug: str,
    read_scope: str,
    owner_field: str = "owner",
    album_field: str | None = None,
) -> models.Model | None:
    """The object `pk` names if the caller could read it; None when it is missing or invisible alike.

    Raises `AccessRefused` as `readable` does. The object decision runs too, as `get_object` runs
    it after the list filter, so the reference and the read endpoint cannot drift apart.
    """
    context = token_context(request)
    visible = readable(
        request,
        queryset,
        tenant_slug=tenant_slug,
        read_scope=read_scope,
        owner_field=owner_field,
        album_field=album_field,
    )
    if not 0 < pk < 2**63:  # no row has such a key, and the driver would choke on some
        return None
    obj = visible.filter(pk=pk).first()
    if obj is None:
        return None
    if context.albums is not None and album_field == "pk":
        return obj  # one of the token's own albums (the filter above), named as the grant named it
    decision = decide_for(
        context,
        tenant_slug=tenant_slug,
        action_scope=read_scope,
        read_scope=read_scope,
        target=target_for(
            context,
            tenant_id=getattr(obj, "tenant_id", None),
            owner_id=getattr(obj, f"{owner_field}_id"),
            album_id=album_of(obj, album_field),
        ),
        resource=decision_resource(request, context.audience),
    )
    # Past the list filter only "not visible" can refuse a read (its reach is the visible reach):
    # whatever it says, a refused reference is the missing one, never a different answer.
    return obj if decision.allowed else None


class TenantScopePermission(BasePermission):
    """Token, tenant, scope and role for every request; ownership for every object."""

    def _decide(self, request: Request, view: ScopedView, scope: str, target: Target | None) -> Decision:
        context = token_context(request)
        return decide_for(
            context,
            tenant_slug=view.kwargs.get("tenant_slug", ""),
            action_scope=scope,
            read_scope=view.read_scope,
            target=target,
            resource=decision_resource(request, context.audience),
        )

    def has_permission(self, request: Request, api_view: APIView) -> bool:
        view = cast(ScopedView, api_view)  # only the tenant views (TenantScopedMixin) use this class
        context = request.auth
        if not isinstance(context, AuthorizationContext):
            raise NotAuthenticated()
        scope = view.required_scope(request)
        if scope is None:
            # A method the view does not offer: the tenant check still hides the tenant, then 405.
            if tenant_problem(context, view.kwargs.get("tenant_slug", "")):
                raise NotFound()
            return True
        view.accepted_oauth_scopes = accepted_scopes(scope, context.implications)
        decision = self._decide(request, view, scope, target=None)
        metrics.record(decision, stage="collection")
        if not decision.allowed:
            raise AccessRefused(decision)
        view.tenant = context.tenant.instance()  # this request's own Tenant (no query)
        view.decision = decision
        bookkeeping.scope_allowed(request, scope)  # a use, if the answer succeeds
        return True

    def has_object_permission(self, request: Request, api_view: APIView, obj: models.Model) -> bool:
        view = cast(ScopedView, api_view)  # as in has_permission
        context = token_context(request)
        scope = view.required_scope(request)
        if scope is None:  # pragma: no cover - has_permission already let only 405s through
            raise NotFound()
        target = target_for(
            context,
            tenant_id=getattr(obj, "tenant_id", None),
            owner_id=getattr(obj, f"{view.owner_field}_id"),
            album_id=album_of(obj, view.album_field),
        )
        decision = self._decide(request, view, scope, target=target)
        metrics.record(decision, stage="object")
        if not decision.allowed:
            raise AccessRefused(decision)
        view.decision = decision
        return True
