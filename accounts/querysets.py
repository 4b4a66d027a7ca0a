"""The queryset every tenant-owned model uses, so a tenant filter is asked for, never forgotten."""

from __future__ import annotations

from typing import Self

from django.db import models


class TenantMissing(LookupError):
    """A tenant-scoped query was built without a tenant: fail closed instead of showing all tenants."""


class TenantQuerySet(models.QuerySet):
    """Rows of one tenant; `for_tenant(None)` raises rather than meaning "every tenant"."""

    def for_tenant(self, tenant: models.Model | None) -> Self:
        """Only `tenant`'s rows."""
        if tenant is None or tenant.pk is None:
            raise TenantMissing(f"{self.model.__name__} rows were asked for without a tenant.")
        return self.filter(tenant=tenant)
