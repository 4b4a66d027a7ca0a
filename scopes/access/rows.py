"""The one SQL statement behind every standing: a grant's rows as the database holds them now.

It reads a grant's user, tenant, membership, role and its grants, the consent and its scopes,
albums and whether it is album-limited, the app's allowed scopes, the tenant's app policy for the app and, for a personal access
token, the tenant's policy for those (`_grant_sql`), for one access token, one (user, tenant, app),
or many tokens at once (the what-if preview). `scopes.access.standing.assess` is the rule on top.
"""

# ruff: noqa: S608  (SQL built from constant table and column names; values are parameters)

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache as memoize
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone

from accounts.authn import NO_SIGN_IN, SignIn
from accounts.models import Tenant, User
from accounts.prepared import prepared_row
from scopes.access.albums import ALBUM_TYPE, AlbumIds, parse_limit
from scopes.access.freshness import EPOCH_TABLE, TOKEN_COLUMNS, VERSION_COLUMN
from scopes.access.personal_tokens import DEFAULT_MAX_DAYS, PERSONAL_TOKENS_CLIENT_ID, PersonalTokenMode
from scopes.access.policy import POLICY_COLUMNS, POLICY_JOINS, AppPolicy
from scopes.access.resources import rows_of
from scopes.access.scope_registry import epoch_read


@dataclass(frozen=True)
class GrantRows:
    """What the database holds now about one (user, tenant, app): the inputs of `assess()`."""

    user: User | None
    tenant: Tenant
    application_id: int | None
    # The tenant the app is limited to (None: usable in any tenant), as the database holds it now.
    app_tenant_id: int | None
    role_id: int | None
    role_name: str | None
    role_grants: tuple[tuple[str, str], ...]
    consent_id: int | None
    consented: tuple[str, ...]
    app_allowed: tuple[str, ...]
    # The grant is a personal access token's and its tenant forbids them (scopes.machines).
    personal_tokens_forbidden: bool = False
    # The tenant's app policy for this app (scopes.tenant_policy): usable at all, and its cap.
    policy: AppPolicy = field(default_factory=AppPolicy)
    # The consent's albums that still exist in the tenant, as (album id, owner id) (scopes.access.albums).
    consent_albums: tuple[tuple[int, int], ...] = ()
    # For a personal access token's grant: the tenant's maximum lifetime as it is NOW, in days (its
    # TokenPolicy, or the default year when it has none); None for every other grant.
    personal_max_days: int | None = None
    # The consent is limited to albums (`Consent.albums_limited`): `consent_albums` is then its limit,
    # even when empty. Read from the column, never inferred from `consent_albums` being non-empty.
    albums_limited: bool = False
    # The app's public identity, for answers that name it (introspection): read with the rest.
    client_id: str | None = None
    grant_type: str | None = None
    # The user has a confirmed second factor (accounts.factors): the tenant's rule may require one.
    has_second_factor: bool = False
    # The consent row was locked (FOR UPDATE) by the statement that read these rows, for the rest of
    # its transaction (the token endpoint's `lock_consent`): writing a token needs no lock of its own.
    consent_locked: bool = False
    # The versions these rows were read at, by the same statement (scopes.access.freshness), in the
    # order of a token fingerprint's grant part (`scopes.access.cache.grant_print`): the tenant's id,
    # then user, tenant, membership, role, consent, app, policy, app in the tenant, registry epoch.
    # A cache keeps the rows under these, never under versions another statement read: an absent
    # row's "version" (NULL) comes back when the row goes again, a row's version never does.
    versions: tuple[Any, ...] = field(default=(), compare=False, repr=False)


@memoize
def _user_fields() -> tuple[str, ...]:
    # Everything but the password hash: contexts are kept in memory, and no decision reads it.
    return tuple(f.attname for f in User._meta.concrete_fields if f.attname != "password")


@memoize
def _tenant_fields() -> tuple[str, ...]:
    return tuple(f.attname for f in Tenant._meta.concrete_fields)


def _aggregate(expression: str) -> str:
    if connection.vendor == "postgresql":
        return f"string_agg({expression}, ' ')"
    return f"group_concat({expression}, ' ')"


def _consent_albums_sql() -> str:
    """The consent's albums that still exist in its tenant, with their owners ("id:owner ...").

    Stored as (kind, identifier) (`ConsentAlbum`); the photos app says where albums are
    (scopes.access.resources). With no app serving albums no album stands: a limited consent then
    reaches nothing, never everything.
    """
    rows = rows_of(ALBUM_TYPE)
    if rows is None:
        return "NULL"
    pair = _aggregate(f"ca.object_id || ':' || al.{rows.owner_column}")
    return f"""(SELECT {pair} FROM scopes_consentalbum ca
            JOIN {rows.table} al ON al.id = ca.object_id AND al.tenant_id = c.tenant_id
            WHERE ca.consent_id = c.id AND ca.kind = '{ALBUM_TYPE}')"""


def _epoch_sql() -> str:
    """The registry epoch, read by the same statement as the grant (`scope_registry.epoch_read`):
    once per statement (an uncorrelated sub-select), whatever the rows."""
    if connection.vendor == "postgresql":
        return "(SELECT scopes_registry_version())"
    return f"(SELECT e.value FROM {EPOCH_TABLE} e WHERE e.id = 1)"


def _grant_sql(source: str, *, lock_consent: bool = False) -> str:
    """The grant's rows, for each row of `source` (user_id, tenant_id, application_id, extra...).

    Built once per source and database (every cold request asks): the text depends on nothing
    else but where albums are, which the installed apps fix at start-up (part of the key anyway).
    `lock_consent`: the consent row is also locked FOR UPDATE (PostgreSQL), see `grant_rows`.
    """
    return _grant_sql_for(source, connection.vendor, rows_of(ALBUM_TYPE), locks_consent(lock_consent))


def locks_consent(asked: bool) -> bool:
    """Whether a read asked to lock the consent does: only where a lock outlives the statement, in a
    transaction (every request runs in one under row-level security; without it the token endpoint
    takes its own lock when it writes), and where there are row locks (not SQLite)."""
    return asked and connection.features.has_select_for_update and connection.in_atomic_block


def _consent_join(lock: bool) -> str:
    """The grant's consent, joined as it is now; locked FOR UPDATE when `lock`.

    A row lock cannot be taken on the nullable side of an outer join, so the locking form reads the
    consent in a LATERAL sub-select that locks the one row it finds (none: nothing to lock, and the
    grant has no consent, as in the plain form). It also joins the same row as the statement's
    snapshot shows it (`seen`), for `_consent_moved`.
    """
    match = (
        "c.user_id = src.user_id AND c.tenant_id = src.tenant_id AND c.application_id = src.application_id"
    )
    if lock:
        return (
            f"LEFT JOIN LATERAL (SELECT * FROM scopes_consent c WHERE {match} FOR UPDATE) c ON true\n"
            "    LEFT JOIN scopes_consent seen ON seen.id = c.id"
        )
    return f"LEFT JOIN scopes_consent c ON {match}"


# The locking form's last column: did the consent change between the statement's snapshot and its
# lock? A lock that waited for a writer (or found a newer committed version) returns the consent row
# as it is now, but PostgreSQL evaluates everything else in the statement, the consent's scopes and
# albums among them, as of the statement's start. Every change to a consent's scopes or albums moves
# the consent row's version (scopes.access.freshness), so different versions mean a stale read.
_CONSENT_MOVED = f"(c.{VERSION_COLUMN} IS DISTINCT FROM seen.{VERSION_COLUMN})"


@memoize
def _grant_sql_for(source: str, vendor: str, album_rows: object, lock_consent: bool = False) -> str:
    user_columns = ", ".join(f"u.{name}" for name in _user_fields())
    tenant_columns = ", ".join(f"n.{name}" for name in _tenant_fields())
    return f"""
    SELECT {user_columns}, {tenant_columns}, a.tenant_id, m.role_id, r.name,
        (SELECT {_aggregate("s.name || ':' || g.reach")} FROM scopes_rolegrant g
            JOIN scopes_scope s ON s.id = g.scope_id WHERE g.role_id = m.role_id),
        c.id,
        (SELECT {_aggregate("s.name")} FROM scopes_consent_scopes cs
            JOIN scopes_scope s ON s.id = cs.scope_id WHERE cs.consent_id = c.id),
        (SELECT {_aggregate("s.name")} FROM scopes_applicationscope x
            JOIN scopes_scope s ON s.id = x.scope_id WHERE x.application_id = src.application_id),
        (SELECT p.personal_tokens FROM scopes_tokenpolicy p WHERE p.tenant_id = src.tenant_id
            AND a.client_id = '{PERSONAL_TOKENS_CLIENT_ID}'),
        CASE WHEN a.client_id = '{PERSONAL_TOKENS_CLIENT_ID}' THEN COALESCE(
            (SELECT p.max_days FROM scopes_tokenpolicy p WHERE p.tenant_id = src.tenant_id),
            {int(DEFAULT_MAX_DAYS)}) END,
        {POLICY_COLUMNS.format(aggregate=_aggregate("s.name"))},
        {_consent_albums_sql()},
        c.albums_limited,
        a.client_id,
        a.authorization_grant_type,
        {_epoch_sql()},
        (EXISTS (SELECT 1 FROM otp_totp_totpdevice d WHERE d.user_id = src.user_id AND d.confirmed)
            OR EXISTS (SELECT 1 FROM accounts_passkey pk WHERE pk.user_id = src.user_id)),
        {_versions_sql()},
        src.*{", " + _CONSENT_MOVED if lock_consent else ""}
    {_grant_from(source, lock_consent)}
    """


def _grant_from(source: str, lock_consent: bool) -> str:
    """The grant's rows as they are now, joined from `source`'s (user_id, tenant_id, application_id):
    the same joins, hence the same rows, for the grant's query and for its probe."""
    return f"""FROM ({source}) src
    JOIN accounts_tenant n ON n.id = src.tenant_id
    LEFT JOIN accounts_user u ON u.id = src.user_id
    LEFT JOIN scopes_application a ON a.id = src.application_id
    LEFT JOIN accounts_membership m ON m.user_id = src.user_id AND m.tenant_id = src.tenant_id
    LEFT JOIN accounts_role r ON r.id = m.role_id
    {_consent_join(lock_consent)}{POLICY_JOINS}"""


# The grant's versions (scopes.access.freshness), in the order of a token fingerprint's grant part
# (`scopes.access.cache.grant_print`): user, tenant, membership, role, consent, app, the tenant's app
# policy, the app's status in the tenant, then the registry epoch.
_GRANT_VERSIONED = ("u", "n", "m", "r", "c", "a", "pol", "tap")


def _versions_sql() -> str:
    return ", ".join(f"{alias}.{VERSION_COLUMN}" for alias in _GRANT_VERSIONED)


def grant_probe_sql(source: str, *, lock_consent: bool) -> str:
    """The *grant probe*: for the one grant `source` names, its (user_id, tenant_id, application_id)
    and the versions of its rows, with the consent locked FOR UPDATE when `lock_consent` (already
    decided by `locks_consent`) and then whether it moved (`_CONSENT_MOVED`).

    The versions of exactly the rows the grant's query reads (`_grant_from`), without reading them:
    a process that holds the grant's rows under these versions needs nothing else
    (scopes.access.cache.locked_source_grant; why that is fresh: scopes.access.freshness)."""
    return _grant_probe_sql_for(source, connection.vendor, lock_consent)


@memoize
def _grant_probe_sql_for(source: str, vendor: str, lock_consent: bool) -> str:
    return f"""
    SELECT src.user_id, src.tenant_id, src.application_id, {_versions_sql()},
        {_epoch_sql()}{", " + _CONSENT_MOVED if lock_consent else ""}
    {_grant_from(source, lock_consent)}
    """


@dataclass(frozen=True)
class ProbedGrant:
    """A grant probe's row (`grant_probe_sql`), read by the module that wrote its columns."""

    key: tuple[Any, Any, Any]  # (user id, tenant id, app id)
    versions: tuple[Any, ...]  # as `GrantRows.versions`: the tenant's id, the rows' versions, the epoch
    moved: bool  # the locked consent changed while the lock waited (`_CONSENT_MOVED`)

    @property
    def consent_found(self) -> bool:
        """The grant has a consent (then the locking form locked it): its version is not NULL."""
        return self.versions[1 + _GRANT_VERSIONED.index("c")] is not None


def probed_grant(row: Sequence[Any], *, lock_consent: bool) -> ProbedGrant:
    """`row` of `grant_probe_sql(..., lock_consent=lock_consent)` as a `ProbedGrant`."""
    width = 3 + len(_GRANT_VERSIONED) + 1
    return ProbedGrant(
        key=(row[0], row[1], row[2]),
        versions=(row[1], *row[3:width]),
        moved=lock_consent and bool(row[width]),
    )


def grant_key(rows: GrantRows) -> tuple[int | None, int, int | None]:
    """The (user id, tenant id, app id) a grant's rows were read for."""
    return (None if rows.user is None else rows.user.pk, rows.tenant.pk, rows.application_id)


def own_copy(rows: GrantRows) -> GrantRows:
    """Kept rows for one request: its own user and tenant instances, as if just read (no query).

    Rows kept in a process (scopes.access.cache.grants) are shared by every request of the grant;
    an instance handed out as a request's user or a token's would carry whatever one request set
    on it into the next (the rule `scopes.access.standing.UserValues` keeps for contexts)."""
    user = None if rows.user is None else rebuilt(User, plain_values(rows.user))
    return replace(rows, user=user, tenant=rebuilt(Tenant, plain_values(rows.tenant)))


@memoize
def _converters(model: type[User] | type[Tenant], vendor: str) -> tuple[tuple[Any, list[Any]], ...]:
    """Django's own value converters for each column (SQLite returns text dates and 0/1 booleans)."""
    found = []
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    for name in _user_fields() if model is User else _tenant_fields():
        column = by_attname[name].get_col(model._meta.db_table)
        found.append(
            (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection))
        )
    return tuple(found)


def _instance(model: type[User] | type[Tenant], values: Sequence[Any]) -> Any:
    converted = []
    for value, (column, converters) in zip(values, _converters(model, connection.vendor), strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return rebuilt(model, converted)


def plain_values(obj: User | Tenant) -> tuple[Any, ...]:
    """The columns this module reads of a user or tenant, as the plain values they hold.

    Ids, text, flags and times: immutable, so they may be kept between requests (`rebuilt` makes
    an instance of them again). A user's password hash is not among them.
    """
    names = _user_fields() if isinstance(obj, User) else _tenant_fields()
    return tuple(getattr(obj, name) for name in names)


def rebuilt(model: type[User] | type[Tenant], values: Sequence[Any]) -> Any:
    """A new instance from `plain_values`, as if loaded from the database (no query)."""
    names = _user_fields() if model is User else _tenant_fields()
    return model.from_db(DEFAULT_DB_ALIAS, names, list(values))


def _split(value: str | None) -> tuple[str, ...]:
    """Names as one shared string each (`sys.intern`): a process keeps thousands of grants and
    contexts (scopes.access.cache) naming the same few scopes and reaches."""
    return tuple(sorted(map(sys.intern, value.split()))) if value else ()


def _pair(item: str) -> tuple[str, str]:
    name, reach = item.split(":", 1)
    return sys.intern(name), sys.intern(reach)


def _rows(row: Sequence[Any]) -> tuple[GrantRows, Sequence[Any]]:
    """A result row as GrantRows, and the source's own columns that follow."""
    users, tenants = len(_user_fields()), len(_tenant_fields())
    user_values, row = row[:users], row[users:]
    tenant_values, row = row[:tenants], row[tenants:]
    app_tenant_id, role_id, role_name, grants, consent_id, consented, allowed, *row = row
    personal_mode, personal_max_days, mode, second_factor, app_status, capped, cap, *row = row
    (
        domain_blocked,
        dynamic_refused,
        albums,
        albums_limited,
        client_id,
        grant_type,
        epoch,
        has_factor,
        *row,
    ) = row
    versions, source = row[: len(_GRANT_VERSIONED)], row[len(_GRANT_VERSIONED) :]
    epoch_read(epoch)
    user = None if user_values[0] is None else _instance(User, user_values)
    tenant = _instance(Tenant, tenant_values)
    rows = GrantRows(
        user=user,
        tenant=tenant,
        application_id=source[2],
        app_tenant_id=app_tenant_id,
        role_id=role_id,
        role_name=role_name,
        role_grants=tuple(sorted(map(_pair, _split(grants)))),
        consent_id=consent_id,
        consented=_split(consented),
        app_allowed=_split(allowed),
        personal_tokens_forbidden=personal_mode == PersonalTokenMode.FORBIDDEN,
        policy=AppPolicy(
            mode=mode,
            status=app_status,
            capped=bool(capped),
            cap=_split(cap),
            app_owned_here=app_tenant_id is not None and app_tenant_id == tenant.pk,
            domain_blocked=bool(domain_blocked),
            dynamic_refused=bool(dynamic_refused),
            second_factor=second_factor,
        ),
        has_second_factor=bool(has_factor),
        consent_albums=_album_pairs(albums),
        personal_max_days=None if personal_max_days is None else int(personal_max_days),
        albums_limited=bool(albums_limited),
        client_id=client_id,
        grant_type=grant_type,
        versions=(tenant.pk, *versions, epoch),
    )
    return rows, source


def _album_pairs(value: str | None) -> tuple[tuple[int, int], ...]:
    pairs = (item.split(":", 1) for item in (value or "").split())
    return tuple(sorted((int(album), int(owner)) for album, owner in pairs))


_TOKEN_SOURCE = (
    f"SELECT user_id, tenant_id, application_id, id, {', '.join(name for name, _kind in TOKEN_COLUMNS)},"
    f" {VERSION_COLUMN} FROM scopes_accesstoken WHERE token_checksum = %s"
)
# Typed, so that one prepared plan serves every grant (a bare parameter's type is not known to plan).
_GRANT_SOURCE = (
    "SELECT CAST(%s AS bigint) AS user_id, CAST(%s AS bigint) AS tenant_id,"
    " CAST(%s AS bigint) AS application_id"
)


@dataclass(frozen=True)
class TokenRows:
    """An access token as the database holds it now, with its grant's rows."""

    token_id: int
    scope: tuple[str, ...]
    expires: datetime
    rows: GrantRows
    albums: AlbumIds | None = None  # the token's album limit as issued (None: none)
    # When it was issued: a personal token's tenant maximum counts from here (standing.token_expiry).
    created: datetime | None = None
    # The resources it is bound to (RFC 8707, scopes.access.audience); empty: not bound.
    audience: tuple[str, ...] = ()
    # How and when its user signed in (accounts.authn), read in the same statement: the decision's
    # sign-in step costs no query.
    sign_in: SignIn = NO_SIGN_IN
    # The token row's version, read with its columns (None where the reader did not ask for it).
    version: Any = field(default=None, compare=False, repr=False)


def _aware(value: datetime | str) -> datetime:
    """A timestamp column as an aware datetime (SQLite returns the UTC text it stores)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _token_row(checksum: str) -> Sequence[Any] | None:
    return prepared_row(_grant_sql(_TOKEN_SOURCE), [checksum])


def token_rows(checksum: str) -> TokenRows | None:
    """The access token with this checksum and its grant, in ONE query; None when there is none.

    On PostgreSQL the caller has entered the token's tenant (row-level security); the API does it
    with the probe in `scopes.access.cache`, other endpoints with `scopes.access.tenancy`.
    """
    row = _token_row(checksum)
    return None if row is None else _token_rows_of(row)


def _token_rows_of(row: Sequence[Any]) -> TokenRows:
    rows, (_user_id, _tenant_id, _app_id, *token, version) = _rows(row)
    return token_on_grant(rows, token, version=version)


def token_on_grant(rows: GrantRows, token: Sequence[Any], *, version: Any) -> TokenRows:
    """A token as TokenRows, from its grant's rows and its own columns as `FIRST_USE_SQL` and the
    token source read them: its id, then `freshness.TOKEN_COLUMNS`; `version`, its row's version as
    the statement that read those columns saw it."""
    token_id, scope, expires, albums, created, resource, acr, amr, auth_time = token
    return TokenRows(
        version=version,
        token_id=token_id,
        scope=tuple(map(sys.intern, scope.split())),
        expires=_aware(expires),
        rows=rows,
        albums=parse_limit(albums),
        created=_aware(created),
        audience=audience_of(resource),
        sign_in=SignIn.of(acr, amr, None if auth_time is None else _aware(auth_time)),
    )


def audience_of(value: Any) -> tuple[str, ...]:
    """DOT's `resource` column as read raw: a JSON array (PostgreSQL decodes jsonb; SQLite gives text).

    Anything that is not a list of strings fails closed: an audience no request is at.
    """
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return ("invalid",)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return ("invalid",)
    return tuple(value)


def live_tokens_rows(condition: str, params: Sequence[Any], *, now: datetime) -> list[TokenRows]:
    """Every unexpired access token matching `condition` (SQL on scopes_accesstoken), with its grant's
    rows, in ONE query: the what-if preview (scopes.usage.preview) judges them in bulk with `assess`."""
    source = (
        "SELECT user_id, tenant_id, application_id, id, scope, expires, created, acr, amr, auth_time"
        " FROM scopes_accesstoken"
        f" WHERE expires > %s AND ({condition})"
    )
    with connection.cursor() as cursor:
        cursor.execute(_grant_sql(source) + " ORDER BY src.id", [now, *params])
        found = cursor.fetchall()
    result = []
    for row in found:
        rows, (_user_id, _tenant_id, _app_id, token_id, scope, expires, created, acr, amr, auth_time) = _rows(
            row
        )
        result.append(
            TokenRows(
                token_id=token_id,
                scope=tuple(scope.split()),
                expires=_aware(expires),
                rows=rows,
                created=_aware(created),
                sign_in=SignIn.of(acr, amr, None if auth_time is None else _aware(auth_time)),
            )
        )
    return result


def source_grant_rows(source: str, params: list[Any], *, lock_consent: bool = False) -> GrantRows | None:
    """The rows of the one grant `source` names, in ONE query planned once per connection.

    `source` is a caller's statement whose first columns are (user_id, tenant_id, application_id),
    for example a service account's row (scopes.machines.oauth): the grant is found and judged in
    the same round trip. None when it finds nothing (or the tenant is gone). `lock_consent`: as
    for `grant_rows`.
    """
    return _grant_of(source, params, lock_consent)


def grant_rows(
    *, user_id: int | None, tenant_id: int, application_id: int | None, lock_consent: bool = False
) -> GrantRows | None:
    """The rows of one (user, tenant, app) grant, in ONE query; None when the tenant is gone.

    `lock_consent` (the token endpoint, inside the transaction that writes the token): the same
    statement locks the consent row FOR UPDATE until that transaction ends. Revoking, narrowing or
    re-limiting a consent locks that row first (scopes.consent.services), so the two are ordered:
    the token endpoint waits for the change and then reads it, or the change waits for the token
    and then revokes or caps it. `consent_locked` on the rows says the lock was taken.
    """
    return _grant_of(_GRANT_SOURCE, [user_id, tenant_id, application_id], lock_consent)


def _grant_of(source: str, params: list[Any], lock_consent: bool) -> GrantRows | None:
    locking = locks_consent(lock_consent)
    sql = _grant_sql(source, lock_consent=locking)
    row = prepared_row(sql, params)
    if row is not None and locking and row[-1]:
        # The consent changed while the lock waited (or just before it): read again. The lock is
        # held now, so this statement's snapshot has the change and nothing can move it after.
        row = prepared_row(sql, params)
        if row is not None and row[-1]:
            return None  # cannot happen while the lock is held; refuse rather than judge stale rows
    if row is None:
        return None
    rows = _rows(row)[0]
    if locking and rows.consent_id is not None:
        rows = replace(rows, consent_locked=True)
    return rows
