"""The two comparison variants: the product's list query and serializer, without our authorization.

(a) bare: no authentication, no permission. (b) stock DOT: `OAuth2Authentication` + `TokenHasScope`.
Both serve exactly the rows and bytes of (c), the product's `/api/t/<slug>/photos/`: the same base
queryset, the same tenant filter, the same cursor pagination and the same serializer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import Http404
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.generics import ListAPIView

from accounts.models import Tenant
from photos.api.serializers import PhotoSerializer
from photos.api.views import NewestFirstCursorPagination
from photos.selectors import photo_base_queryset
from scopes.constants import ScopeName

_tenants: dict[str, Tenant] = {}


def _tenant(slug: str) -> Tenant:
    """The URL's tenant, looked up once per process: the baselines spend nothing on it per request."""
    if slug not in _tenants:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise Http404
        _tenants[slug] = tenant
    return _tenants[slug]


class SameRowsView(ListAPIView):
    """The product's photo list query, serializer and pagination, for a tenant named in the URL."""

    queryset = photo_base_queryset()
    serializer_class = PhotoSerializer
    pagination_class = NewestFirstCursorPagination
    tenant: Tenant | None = None

    def get_queryset(self) -> Any:
        self.tenant = _tenant(self.kwargs["tenant_slug"])
        return self.queryset.all().for_tenant(self.tenant)


class BarePhotoList(SameRowsView):
    """(a) No authentication or permission at all."""

    authentication_classes: ClassVar[list[type]] = []
    permission_classes: ClassVar[list[type]] = []


class DotPhotoList(SameRowsView):
    """(b) Stock django-oauth-toolkit: a Bearer token holding `photos.read`."""

    authentication_classes: ClassVar[list[type]] = [OAuth2Authentication]
    permission_classes: ClassVar[list[type]] = [TokenHasScope]
    required_scopes: ClassVar[list[str]] = [ScopeName.PHOTOS_READ]
