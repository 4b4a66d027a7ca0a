"""The one base view for tenant resources: every tenant queryset in the API is built here.

A resource viewset declares `action_scopes` (action -> ScopeName), `read_scope` and `owner_field`,
and may narrow its queryset with `narrow_queryset`; it never overrides `get_queryset` to widen it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Tenant, signed_in
from accounts.querysets import TenantMissing, TenantQuerySet
from scopes.access.decision import Decision
from scopes.access.standing import AuthorizationContext
from scopes.api import bookkeeping
from scopes.api.authentication import BearerTokenAuthentication
from scopes.api.permissions import TenantScopePermission, restrict, token_context
from scopes.constants import ScopeName
from scopes.registry import normalise

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass


class TenantScopedMixin:
    """Resolves `/api/t/<tenant_slug>/`, authorizes through the decision function, adds scope headers."""

    # Typed as APIView declares them, so that the mixin and APIView agree.
    authentication_classes: Sequence[type[BaseAuthentication]] = [BearerTokenAuthentication]
    permission_classes: Sequence[_PermissionClass] = [TenantScopePermission]
    # action name (viewsets) or lower-case HTTP method (plain views) -> the scope it needs.
    action_scopes: ClassVar[Mapping[str, ScopeName]] = {}
    # The scope whose grant decides which objects are visible at all (lists, 404s).
    read_scope: ClassVar[ScopeName | None] = None
    owner_field: ClassVar[str] = "owner"
    # The attribute naming the album an object is in or is (`album_id`, `pk`), for album-limited
    # tokens (scopes.access.albums); None: such tokens see none of the resource's objects.
    album_field: ClassVar[str | None] = None
    # OPTIONS metadata would build serializers and querysets outside any decision: not offered.
    metadata_class: str | BaseMetadata | None = None

    tenant: Tenant | None = None
    decision: Decision | None = None
    accepted_oauth_scopes: list[str] | None = None

    def authorized_tenant(self) -> Tenant:
        """The tenant `TenantScopePermission` resolved; fails closed if asked for before it ran."""
        if self.tenant is None:
            raise TenantMissing("The tenant was asked for before it was authorized.")
        return self.tenant

    def required_scope(self, request: Request) -> str | None:
        """The scope this request needs; None for a method the view does not offer (405)."""
        key = getattr(self, "action", None) or (request.method or "").lower()
        if key == "head":
            key = "get"
        if key == "options":
            return None
        return self.action_scopes.get(key)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        """Every answer to a valid token says what it has and what this endpoint accepts, as GitHub does.

        The answer is final here: what the request's decisions allowed is recorded now, and only
        now (usage by day, a personal token's last use: `scopes.api.bookkeeping`).
        """
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        bookkeeping.record(request, response)
        context = getattr(request, "_auth", None)
        if isinstance(context, AuthorizationContext):
            response["X-OAuth-Scopes"] = " ".join(normalise(context.token_scopes, context.implications))
            response["X-Accepted-OAuth-Scopes"] = " ".join(self.accepted_oauth_scopes or [])
        return response


class TenantScopedAPIView(TenantScopedMixin, APIView):
    """A tenant endpoint that is not a collection of objects (`me/`); scopes keyed by HTTP method."""


class TenantScopedViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Base for tenant-owned collections: tenant filter, then the reach of the caller's grant."""

    http_method_names: Sequence[str] = ["get", "post", "patch", "delete", "head", "options"]
    # Where a subclass could widen what the caller sees; refused when the subclass is defined.
    SEALED: ClassVar[tuple[str, ...]] = ("get_queryset", "get_object", "filter_queryset")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make the safe way the only way: a resource narrows (`narrow_queryset`), never replaces.

        Checked when the class is created (at import), so a viewset that overrides one of these
        never reaches a test, let alone a request.
        """
        super().__init_subclass__(**kwargs)
        overridden = sorted(name for name in cls.SEALED if name in vars(cls))
        if overridden:
            raise ImproperlyConfigured(
                f"{cls.__name__} overrides {', '.join(overridden)}: a tenant viewset may only narrow its "
                "queryset with narrow_queryset() (scopes.api.viewsets)."
            )

    def get_queryset(self) -> models.QuerySet:
        """The tenant's rows the caller may see; fails closed when no tenant was resolved."""
        if self.tenant is None or self.decision is None:
            raise TenantMissing("A tenant queryset was asked for before the tenant was authorized.")
        if self.queryset is None:
            raise ImproperlyConfigured(f"{type(self).__name__} must set `queryset`.")
        queryset = restrict(
            # Tenant-owned models' managers return TenantQuerySets; GenericAPIView types it as any.
            cast(TenantQuerySet, self.queryset.all()),
            tenant=self.tenant,
            user_id=signed_in(self.request.user).pk,
            reach=self.decision.visible_reach,
            owner_field=self.owner_field,
            albums=token_context(self.request).albums,
            album_field=self.album_field,
        )
        return self.narrow_queryset(queryset)

    def narrow_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        """Resource filters (query parameters); may only narrow what `get_queryset` allows."""
        return queryset
