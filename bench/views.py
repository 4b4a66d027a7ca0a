"""The two comparison variants: the product's list query and serializer, without our authorization.

(a) bare: no authentication, no permission. (b) stock DOT: `OAuth2Authentication` + `TokenHasScope`.
Both serve exactly the rows and bytes of (c), the product's `/api/t/<slug>/photos/`: the same base
queryset, the same tenant filter, the same cursor pagination and the same serializer.

Both run as deployed, as the runtime role under row-level security, so before anything else they
do what any tenant-scoped endpoint must: resolve the URL's tenant and enter it, in one statement per
request (no per-process cache: with a thousand tenants a baseline that skipped it would be measuring
less work than ours does). Ours spends one statement on the same thing: entering the token's tenant.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import connection
from django.http import Http404
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from accounts.models import Tenant
from accounts.tenancy import TENANT_IDS_SETTING
from photos.api.serializers import PhotoSerializer
from photos.api.views import NewestFirstCursorPagination
from photos.selectors import photo_base_queryset, photos_listed
from scopes.constants import ScopeName

# The URL's active tenant, resolved and entered (row-level security) in one round trip. The tenant
# table is not behind row-level security: the runtime role reads it with nothing entered.
_ENTER_URL_TENANT = (
    f"SELECT t.id, set_config('{TENANT_IDS_SETTING}', t.id::text, true)"  # noqa: S608 (names, not input)
    f" FROM {Tenant._meta.db_table} t WHERE t.slug = %s AND t.is_active"
)


def enter_url_tenant(slug: str) -> Tenant:
    """The active tenant named `slug`, entered for the rest of the request's transaction; else 404.

    On a database without row-level security (SQLite) it is a plain lookup.
    """
    if connection.vendor != "postgresql":
        tenant = Tenant.objects.filter(slug=slug, is_active=True).only("id", "slug").first()
        if tenant is None:
            raise Http404
        return tenant
    with connection.cursor() as cursor:
        cursor.execute(_ENTER_URL_TENANT, [slug])
        row = cursor.fetchone()
    if row is None:
        raise Http404
    return Tenant(pk=row[0], slug=slug)


class SameRowsView(ListAPIView):
    """The product's photo list query, serializer and pagination, for the tenant named in the URL."""

    queryset = photo_base_queryset()
    serializer_class = PhotoSerializer
    pagination_class = NewestFirstCursorPagination
    tenant: Tenant | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: under row-level security stock DOT finds no token of a tenant
        # the transaction has not entered.
        self.tenant = enter_url_tenant(self.kwargs["tenant_slug"])
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        queryset: Any = self.queryset.all()  # the product's TenantQuerySet
        return photos_listed(queryset.for_tenant(self.tenant))  # as the product's list narrows it


class BarePhotoList(SameRowsView):
    """(a) No authentication or permission at all."""

    authentication_classes = []
    permission_classes = []


class DotPhotoList(SameRowsView):
    """(b) Stock django-oauth-toolkit: a Bearer token holding `photos.read`, looked up in the URL's tenant."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes: ClassVar[list[str]] = [ScopeName.PHOTOS_READ]
