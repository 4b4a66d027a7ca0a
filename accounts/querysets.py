"""The queryset every tenant-owned model uses, so a tenant filter is asked for, never forgotten.

A tenant-owned model has two managers:

    objects = TenantManager()                 # refuses to run a query that names no tenant
    all_tenants = TenantManager(scoped=True)  # every tenant's rows: the admin, migrations, commands

and `Meta.base_manager_name = "all_tenants"`, so that what Django does to one row it already holds
(save, delete, refresh, following a foreign key) is not refused. It gets them, and the (tenant_id,
id) key, by inheriting `TenantOwned` (below); its Meta extends `TenantOwned.Meta`.

A query through `objects` runs only after `for_tenant(tenant)`, or through a related manager of an
object that itself belongs to one tenant (`album.photos`). Anything else raises `TenantMissing`
when it is evaluated (listed, counted, updated, deleted...), on every database: on PostgreSQL
row-level security would also hide the other tenants' rows, but on SQLite nothing would, and a
forgotten filter must fail in the test suite of both, not pass on one.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class TenantMissing(LookupError):
    """A tenant-scoped query was built without a tenant: fail closed instead of showing all tenants."""


class TenantQuerySet(models.QuerySet):
    """Rows of one tenant; `for_tenant(None)` raises rather than meaning "every tenant"."""

    _tenant_scoped = False

    def for_tenant(self, tenant: models.Model | None) -> Self:
        """Only `tenant`'s rows."""
        if tenant is None or tenant.pk is None:
            raise TenantMissing(f"{self.model.__name__} rows were asked for without a tenant.")
        scoped = self.filter(tenant=tenant)
        scoped._tenant_scoped = True
        return scoped

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]  # QuerySet._clone is private, untyped in the stubs
        clone._tenant_scoped = self._tenant_scoped
        return clone

    def _require_tenant(self) -> None:
        if not self._tenant_scoped:
            raise TenantMissing(
                f"A query of {self.model.__name__} names no tenant: use "
                f"{self.model.__name__}.objects.for_tenant(tenant), or the all_tenants manager "
                "where every tenant is meant (the admin, migrations, commands)."
            )

    # Every way a queryset reaches the database.
    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_tenant()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        self._require_tenant()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._require_tenant()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._require_tenant()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_tenant()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_tenant()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_tenant()
        return super().delete()

    def in_bulk(self, *args: Any, **kwargs: Any) -> Any:
        self._require_tenant()
        return super().in_bulk(*args, **kwargs)

    def explain(self, *args: Any, **kwargs: Any) -> str:
        self._require_tenant()
        return super().explain(*args, **kwargs)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """`TenantManager()` refuses unscoped queries; `TenantManager(scoped=True)` is every tenant's."""

    def __init__(self, *, scoped: bool = False) -> None:
        super().__init__()
        self.scoped = scoped

    def get_queryset(self) -> TenantQuerySet:
        queryset: TenantQuerySet = super().get_queryset()
        # A related manager (Django subclasses this one for `album.photos`) is scoped when the
        # object it hangs off belongs to one tenant: its rows are in that tenant (on PostgreSQL a
        # composite foreign key guarantees it). `user.photos` is not: a user spans tenants.
        instance = getattr(self, "instance", None)
        if self.scoped or (instance is not None and getattr(instance, "tenant_id", None) is not None):
            queryset._tenant_scoped = True
        return queryset


class TenantKeyed(models.Model):
    """A tenant's table keyed by (tenant_id, id): the key composite foreign keys and Citus use.

    On PostgreSQL the key is the target of composite foreign keys (a photo's album, a token's
    pair, always in the row's tenant) and the key Citus distributes by (docs/security.md,
    "Tenancy in PostgreSQL"). `%(class)s` names it `<model>_tenant_id_key`, the name every
    existing table's key already has, so inheriting this changes no migration.

    The `tenant` field itself stays on each model: its related_name (and, for a tenant's one
    policy, OneToOneField) differs. A model with constraints of its own lists them after
    `*TenantKeyed.Meta.constraints`: a child's `Meta.constraints` replaces its parent's.
    """

    class Meta:
        abstract = True
        constraints = [models.UniqueConstraint(fields=["tenant", "id"], name="%(class)s_tenant_id_key")]


class TenantOwned(TenantKeyed):
    """A tenant's table whose queries must name the tenant: the whole contract above, held once.

    `objects` refuses a query that names no tenant, `all_tenants` is every tenant's rows, and
    `Meta.base_manager_name` lets Django act on a row it already holds (this module's docstring).
    A tenant model whose default manager cannot refuse (accounts.tenancy.MANAGER_EXEMPT says why)
    inherits `TenantKeyed` instead. Its table still needs row-level security: a new one gets it
    from `accounts.migration_operations.EnableTenantIsolation`.
    """

    objects = TenantManager()  # refuses a query that names no tenant
    all_tenants = TenantManager(scoped=True)  # every tenant: the admin, migrations, commands

    class Meta(TenantKeyed.Meta):
        abstract = True
        base_manager_name = "all_tenants"  # save, delete, refresh of a row already held
