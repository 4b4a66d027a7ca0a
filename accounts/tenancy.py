"""What one database transaction may see: the PostgreSQL half of tenancy (docs/security.md).

On PostgreSQL every tenant-owned table carries a row-level security policy that shows, and lets
the application write, only rows whose `tenant_id` is in the transaction's `app.tenant_ids`; the
tables that belong to a person additionally show (for reading only) the rows of `app.user_id`.
There is no other branch: with nothing entered, every tenant-owned table is empty.

Both settings are written with `set_config(..., is_local => true)`, so they end with the
transaction: a pooled connection can never carry one request's tenant into the next. Requests run
in one transaction each (`accounts.middleware.TenancyMiddleware`); code outside a request enters a
tenant with `tenant_scope()`.

SQLite has no such wall: there these functions do nothing and the ORM's fail-closed
`TenantQuerySet` is the only guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

F = TypeVar("F", bound=Callable[..., Any])

TENANT_IDS_SETTING = "app.tenant_ids"
USER_ID_SETTING = "app.user_id"

# Models with a `tenant` foreign key that are deliberately NOT behind row-level security, and why.
# The database tests fail for any other model with a `tenant` field that lacks a policy.
RLS_EXEMPT: dict[str, str] = {
    "scopes.Application": (
        "the client registry: looked up by client_id at /o/authorize/ and /o/token/ before any tenant "
        "is known; its tenant limits where the app may be used, it is not a tenant's data"
    ),
    "scopes.DeviceGrant": (
        "a device authorization, looked up by its device or user code before any tenant is known "
        "(it has none until the user approves); the tokens it yields are tenant rows under the policy"
    ),
    "accounts.AuditEvent": (
        "the operators' log, read only in the admin and kept after its tenant is deleted (tenant "
        "becomes NULL); instead the runtime role may only append to it, never rewrite or delete it"
    ),
}


# Tenant-owned models whose default manager does not refuse a query without a tenant
# (accounts.querysets.TenantManager), and why. The guard test fails for any other such model.
MANAGER_EXEMPT: dict[str, str] = {
    **RLS_EXEMPT,
    "accounts.Membership": "a person's memberships span tenants (sign-in, the tenant picker, connected apps)",
    "accounts.Role": "global role templates have no tenant; the role admin is scoped by admin_roles",
    "scopes.Consent": "a person's consents span tenants (connected apps); the services name the tenant",
    "scopes.ScopeUsage": (
        "written keyed by the token's tenant; read across tenants by the superusers' platform-wide "
        "usage report and by a person's connected apps (row-level security still confines both)"
    ),
    "scopes.AccessToken": "django-oauth-toolkit looks tokens up by value, before any tenant is known",
    "scopes.RefreshToken": "django-oauth-toolkit looks tokens up by value, before any tenant is known",
    "scopes.Grant": "django-oauth-toolkit looks codes up by value, before any tenant is known",
    # scopes.machines: row-level security still confines them on PostgreSQL.
    "scopes.ServiceAccount": "looked up by its client-credentials app at /o/token/, before any tenant is known",
    "scopes.PersonalAccessToken": "a person's tokens span tenants (the tokens page); use is recorded by token id",
    "scopes.TokenPolicy": "one row per tenant, read by the standing's SQL and by its tenant in services",
    # The audit stream: row-level security confines both on PostgreSQL (accounts 0007).
    "accounts.AuditWebhook": (
        "superusers' admin screens and the delivery worker, which enters each endpoint's tenant "
        "itself; the outbox locks it in the tenant of the event being written"
    ),
    "accounts.AuditDelivery": "the outbox and its log: written beside each event, drained per endpoint by the worker",
}

# Tenant-owned models that do not inherit accounts.querysets.TenantKeyed (the (tenant_id, id)
# key), and why. The guard test fails for any other such model; the others inherit TenantOwned
# unless MANAGER_EXEMPT says why their default manager cannot refuse a query without a tenant.
TENANT_KEY_EXEMPT: dict[str, str] = {
    "accounts.Role": (
        "global role templates have no tenant (tenant is NULL), so (tenant_id, id) is no key; "
        "row-level security lets every tenant read them"
    ),
}


def rls_enforced(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the database behind `using` enforces tenancy itself (PostgreSQL does)."""
    return connections[using].vendor == "postgresql"


def tenant_owned_models() -> list[type[models.Model]]:
    """Every installed model with a `tenant` foreign key that row-level security must cover."""
    owned = []
    for model in apps.get_models():
        tenant = next((f for f in model._meta.get_fields() if f.name == "tenant"), None)
        if tenant is not None and tenant.is_relation and model._meta.label not in RLS_EXEMPT:
            owned.append(model)
    return owned


@dataclass
class _Known:
    """What this request last entered, so an unchanged value costs no statement.

    Valid only inside `request_scope()`, and only while the savepoint in which it was written
    is still open: rolling back to an earlier savepoint would silently undo a `set_config`.
    """

    alias: str
    savepoints: tuple[str | None, ...]
    values: dict[str, str] = field(default_factory=dict)


_known: ContextVar[_Known | None] = ContextVar("tenancy_known", default=None)
_in_request: ContextVar[bool] = ContextVar("tenancy_in_request", default=False)


@contextmanager
def request_scope() -> Iterator[None]:
    """Remember what this request entered (for the middleware, which owns the transaction)."""
    in_request = _in_request.set(True)
    known = _known.set(None)
    try:
        yield
    finally:
        _known.reset(known)
        _in_request.reset(in_request)


def _current(connection: BaseDatabaseWrapper) -> dict[str, str] | None:
    known = _known.get()
    if known is None or known.alias != connection.alias or not connection.in_atomic_block:
        return None
    if tuple(connection.savepoint_ids[: len(known.savepoints)]) != known.savepoints:
        return None
    return known.values


def _remember(connection: BaseDatabaseWrapper, values: dict[str, str]) -> None:
    if not _in_request.get() or not connection.in_atomic_block:
        return
    current = _current(connection) or {}
    _known.set(_Known(connection.alias, tuple(connection.savepoint_ids), {**current, **values}))


def _ids(tenant_ids: Iterable[int]) -> str:
    return ",".join(str(int(t)) for t in sorted(set(tenant_ids)))


def enter(
    *,
    tenant_ids: Iterable[int] | None = None,
    user_id: int | bool | None = False,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Set what the rest of this transaction may see: the tenants, and/or the person (one statement).

    `tenant_ids=None` leaves the tenants as they are; `user_id=False` leaves the person as is,
    `user_id=None` clears it. Entering replaces, it never widens silently.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    wanted: dict[str, str] = {}
    if tenant_ids is not None:
        wanted[TENANT_IDS_SETTING] = _ids(tenant_ids)
    if user_id is not False:
        wanted[USER_ID_SETTING] = "" if user_id is None else str(int(user_id))
    current = _current(connection)
    if not wanted or (current is not None and all(current.get(k) == v for k, v in wanted.items())):
        return
    calls = ", ".join("set_config(%s, %s, true)" for _ in wanted)
    params = [item for pair in wanted.items() for item in pair]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {calls}", params)
    _remember(connection, wanted)


def enter_tenant(tenant_id: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Let the rest of this transaction see (and write) exactly one tenant's rows."""
    enter(tenant_ids=[tenant_id], using=using)


def include_tenant(tenant_id: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Add one tenant to what this transaction sees (the admin, after it creates a tenant)."""
    _add_tenant("%s::bigint", int(tenant_id), using)


def enter_tenant_of(resolver: str, key: str, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Add the tenant of a credential to this transaction, found by a SECURITY DEFINER function.

    `resolver` names a function (created by a migration) that maps a credential (a token
    checksum, an authorization code) to its tenant id across tenants: the one narrow door for
    endpoints that learn the tenant from the credential itself. One statement. False when the
    database knows no such credential (nothing is entered); True otherwise, and always on
    databases without row-level security, where nothing is looked up.
    """
    if not resolver.isidentifier():
        raise ValueError(f"{resolver!r} is not a function name.")
    return _add_tenant(f"{resolver}(%s)", key, using)


_ADD_TENANT = (
    "SELECT set_config('app.tenant_ids', concat_ws(',', nullif(current_setting('app.tenant_ids', true), ''),"
    " found::text), true), found FROM (SELECT {expression} AS found) AS credential"
)


def _add_tenant(expression: str, param: int | str, using: str) -> bool:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    # `expression` is a placeholder or a checked function name, never input.
    statement = _ADD_TENANT.format(expression=expression)
    with connection.cursor() as cursor:
        cursor.execute(statement, [param])
        value, found = cursor.fetchone()
    _remember(connection, {TENANT_IDS_SETTING: _ids(int(v) for v in value.split(",") if v)})
    return found is not None


def note_entered(tenant_ids: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Record what a statement of someone else's set `app.tenant_ids` to (the API's token probe)."""
    _remember(connections[using], {TENANT_IDS_SETTING: _ids(int(v) for v in tenant_ids.split(",") if v)})


@contextmanager
def tenant_scope(tenant_id: int, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction that sees one tenant: for management commands and scripts outside requests."""
    with transaction.atomic(using=using):
        enter(tenant_ids=[tenant_id], using=using)
        yield


@contextmanager
def writing_in(tenant_id: int, *, using: str = DEFAULT_DB_ALIAS, savepoint: bool = True) -> Iterator[None]:
    """Inside: this transaction sees exactly `tenant_id`; afterwards, what it saw before.

    For services that write one tenant's rows: they enter that tenant themselves instead of
    relying on whoever called them (a view, the admin, a command, a test) to have entered it.
    It never widens what the caller sees: inside, only the tenant being written (narrower than an
    admin request's several tenants); after, the caller's own setting again. Free when the
    request already entered exactly this tenant (the API, after its token probe): no statement.
    `savepoint=False` for callers already inside the transaction they write in (the outbox).
    """
    with writing_in_tenants([tenant_id], using=using, savepoint=savepoint):
        yield


@contextmanager
def writing_in_tenants(
    tenant_ids: Iterable[int], *, using: str = DEFAULT_DB_ALIAS, savepoint: bool = True
) -> Iterator[None]:
    """`writing_in` for a batch that spans tenants (bookkeeping written off the request path:
    accounts.background): inside, exactly these tenants; afterwards, what the caller saw before."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using, savepoint=savepoint):
        known = _current(connection)
        if known is not None and TENANT_IDS_SETTING in known:
            before = known[TENANT_IDS_SETTING]
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(current_setting(%s, true), '')", [TENANT_IDS_SETTING])
                (before,) = cursor.fetchone()
        enter(tenant_ids=tenant_ids, using=using)
        try:
            yield
        finally:
            enter(tenant_ids=[int(v) for v in before.split(",") if v], using=using)


def writes_in_tenant(tenant_of: Callable[[dict[str, Any]], int]) -> Callable[[F], F]:
    """Decorate a keyword-only service that writes one tenant's rows: it runs `writing_in` the
    tenant `tenant_of(kwargs)` names (`lambda a: a["tenant"].pk`, `lambda a: a["photo"].tenant_id`)."""

    def decorate(service: F) -> F:
        @wraps(service)
        def run(*args: Any, **kwargs: Any) -> Any:
            with writing_in(tenant_of(kwargs)):
                return service(*args, **kwargs)

        return cast(F, run)

    return decorate
