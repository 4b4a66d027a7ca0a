"""Does this grant still stand, and what does it allow now? One answer, from the database.

Every caller asks here: API authentication (through `scopes.access.cache`), introspection, the
refresh grant, the code exchange, remembered consent on the consent page, the connected-apps page
and the admin's explain page. A grant is a (user, tenant, app) with the scopes one credential
carries (an access token, a refresh token's token, an authorization code, or a remembered consent);
it stands when the user is active, the tenant is active, the user is a member there, the consent
still exists (and, for a token, the token exists and has not expired). What it allows now is

    granted   = the credential's scopes ∩ the consent's scopes ∩ the app's allowed scopes
    effective = granted ∩ what the user's current role covers

each taken as closures under the current implication graph, then normalised. The API decides
with `granted` and the role's grants separately, so that a refusal can say which one refused
(`scope_missing` or `role_forbids`); everyone else reports `effective`.

One SQL statement reads a grant's user, tenant, membership, role and its grants, the consent and
its scopes, and the app's allowed scopes (`_GRANT_SQL`); `assess()` is the pure rule on top.
"""

# ruff: noqa: S608  (SQL built from constant table and column names; values are parameters)

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache as memoize
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone

from accounts.models import Tenant, User
from scopes.registry import Implications, closure, grant_reaches, normalise


class Problem(StrEnum):
    """Why a grant no longer stands (stable codes; `Standing.detail` says it in words)."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USER_INACTIVE = "user_inactive"
    TENANT_INACTIVE = "tenant_inactive"
    NOT_MEMBER = "not_member"
    CONSENT_REVOKED = "consent_revoked"
    APP_NOT_IN_TENANT = "app_not_in_tenant"


# Problems the API reports as "this tenant does not exist for you" (404), not as a bad token (401).
TENANT_PROBLEMS = frozenset({Problem.TENANT_INACTIVE, Problem.NOT_MEMBER})

DETAILS = {
    Problem.UNKNOWN: "the token is unknown or has been revoked",
    Problem.EXPIRED: "the token has expired",
    Problem.USER_INACTIVE: "the token's user is not active",
    Problem.TENANT_INACTIVE: "the tenant is inactive",
    Problem.NOT_MEMBER: "the user is not a member of the tenant",
    Problem.CONSENT_REVOKED: "the user has taken back this app's access",
    Problem.APP_NOT_IN_TENANT: "the app may no longer be used in this tenant",
}


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


@dataclass(frozen=True)
class Standing:
    """The answer: whether the grant stands (`problem` is None) and what it allows now."""

    problem: Problem | None
    rows: GrantRows
    issued: tuple[str, ...]
    granted: tuple[str, ...]
    effective: tuple[str, ...]
    expires: datetime | None

    @property
    def stands(self) -> bool:
        return self.problem is None

    @property
    def detail(self) -> str:
        return DETAILS[self.problem] if self.problem else "the grant stands"


def assess(
    rows: GrantRows,
    *,
    issued: Iterable[str],
    implications: Implications,
    expires: datetime | None = None,
    now: datetime | None = None,
) -> Standing:
    """The rule, pure: the first problem found (in a fixed order), and the scopes left."""
    issued = tuple(issued)
    problem: Problem | None = None
    if expires is not None and (now or timezone.now()) >= expires:
        problem = Problem.EXPIRED
    elif rows.user is None or not rows.user.is_active:
        problem = Problem.USER_INACTIVE
    elif not rows.tenant.is_active:
        problem = Problem.TENANT_INACTIVE
    elif rows.role_id is None:
        problem = Problem.NOT_MEMBER
    elif rows.app_tenant_id is not None and rows.app_tenant_id != rows.tenant.pk:
        problem = Problem.APP_NOT_IN_TENANT
    elif rows.consent_id is None:
        problem = Problem.CONSENT_REVOKED
    granted_closure = (
        closure(issued, implications)
        & closure(rows.consented, implications)
        & closure(rows.app_allowed, implications)
    )
    role_covered = frozenset(grant_reaches(rows.role_grants, implications))
    return Standing(
        problem=problem,
        rows=rows,
        issued=issued,
        granted=tuple(normalise(granted_closure, implications)),
        effective=tuple(normalise(granted_closure & role_covered, implications)),
        expires=expires,
    )


# --- Reading: one statement per grant.


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


def _grant_sql(source: str) -> str:
    """The grant's rows, for each row of `source` (user_id, tenant_id, application_id, extra...)."""
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
        src.*
    FROM ({source}) src
    JOIN accounts_tenant n ON n.id = src.tenant_id
    LEFT JOIN accounts_user u ON u.id = src.user_id
    LEFT JOIN scopes_application a ON a.id = src.application_id
    LEFT JOIN accounts_membership m ON m.user_id = src.user_id AND m.tenant_id = src.tenant_id
    LEFT JOIN accounts_role r ON r.id = m.role_id
    LEFT JOIN scopes_consent c ON c.user_id = src.user_id AND c.tenant_id = src.tenant_id
        AND c.application_id = src.application_id
    """


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
    names = _user_fields() if model is User else _tenant_fields()
    return model.from_db(DEFAULT_DB_ALIAS, names, converted)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(sorted(value.split())) if value else ()


def _rows(row: Sequence[Any]) -> tuple[GrantRows, Sequence[Any]]:
    """A result row as GrantRows, and the source's own columns that follow."""
    users, tenants = len(_user_fields()), len(_tenant_fields())
    user_values, row = row[:users], row[users:]
    tenant_values, row = row[:tenants], row[tenants:]
    app_tenant_id, role_id, role_name, grants, consent_id, consented, allowed, *source = row
    user = None if user_values[0] is None else _instance(User, user_values)
    rows = GrantRows(
        user=user,
        tenant=_instance(Tenant, tenant_values),
        application_id=source[2],
        app_tenant_id=app_tenant_id,
        role_id=role_id,
        role_name=role_name,
        role_grants=tuple(sorted(tuple(item.split(":", 1)) for item in _split(grants))),  # type: ignore[misc]
        consent_id=consent_id,
        consented=_split(consented),
        app_allowed=_split(allowed),
    )
    return rows, source


def _fetch(sql: str, params: list[Any]) -> Sequence[Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


_TOKEN_SOURCE = (
    "SELECT user_id, tenant_id, application_id, id, scope, expires"
    " FROM scopes_accesstoken WHERE token_checksum = %s"
)
_GRANT_SOURCE = "SELECT %s AS user_id, %s AS tenant_id, %s AS application_id"


@dataclass(frozen=True)
class TokenRows:
    """An access token as the database holds it now, with its grant's rows."""

    token_id: int
    scope: tuple[str, ...]
    expires: datetime
    rows: GrantRows


def token_rows(checksum: str) -> TokenRows | None:
    """The access token with this checksum and its grant, in ONE query; None when there is none.

    On PostgreSQL the caller has entered the token's tenant (row-level security); the API does it
    with the probe in `scopes.access.cache`, other endpoints with `scopes.access.tenancy`.
    """
    row = _fetch(_grant_sql(_TOKEN_SOURCE), [checksum])
    if row is None:
        return None
    rows, (_user_id, _tenant_id, _app_id, token_id, scope, expires) = _rows(row)
    if isinstance(expires, str):  # SQLite returns the text it stores (UTC)
        expires = datetime.fromisoformat(expires)
    if timezone.is_naive(expires):
        expires = expires.replace(tzinfo=UTC)
    return TokenRows(token_id=token_id, scope=tuple(scope.split()), expires=expires, rows=rows)


def grant_rows(*, user_id: int | None, tenant_id: int, application_id: int | None) -> GrantRows | None:
    """The rows of one (user, tenant, app) grant, in ONE query; None when the tenant is gone."""
    row = _fetch(_grant_sql(_GRANT_SOURCE), [user_id, tenant_id, application_id])
    return None if row is None else _rows(row)[0]


def _implications() -> Mapping[str, frozenset[str]]:
    from scopes.access.selectors import registry  # registry() reads the epoch; selectors import this module

    return registry().implications


def access_token_standing(checksum: str, *, now: datetime | None = None) -> Standing | None:
    """The standing of an access token (None: no such token, i.e. unknown or revoked)."""
    found = token_rows(checksum)
    if found is None:
        return None
    return assess(
        found.rows, issued=found.scope, implications=_implications(), expires=found.expires, now=now
    )


def grant_standing(
    *,
    user_id: int | None,
    tenant_id: int,
    application_id: int | None,
    issued: Iterable[str],
    expires: datetime | None = None,
) -> Standing | None:
    """The standing of a refresh token's or a code's grant."""
    rows = grant_rows(user_id=user_id, tenant_id=tenant_id, application_id=application_id)
    if rows is None:
        return None
    return assess(rows, issued=issued, implications=_implications(), expires=expires)


def consent_standing(*, user_id: int, tenant_id: int, application_id: int) -> Standing | None:
    """A remembered consent as it stands: what it granted is what it carries (the consent page)."""
    rows = grant_rows(user_id=user_id, tenant_id=tenant_id, application_id=application_id)
    if rows is None:
        return None
    return assess(rows, issued=rows.consented, implications=_implications())


_CONSENTS_SOURCE = "SELECT user_id, tenant_id, application_id FROM scopes_consent WHERE user_id = %s"


def consent_standings_of(user_id: int) -> dict[tuple[int, int], Standing]:
    """Every consent of one user as it stands, by (tenant id, app id), in ONE query (connected apps)."""
    with connection.cursor() as cursor:
        cursor.execute(_grant_sql(_CONSENTS_SOURCE), [user_id])
        found = cursor.fetchall()
    implications = _implications()
    standings = {}
    for row in found:
        rows, (_user_id, tenant_id, application_id) = _rows(row)
        standings[(tenant_id, application_id)] = assess(
            rows, issued=rows.consented, implications=implications
        )
    return standings


# --- The API's view of a standing access token.


@dataclass(frozen=True)
class AuthorizationContext:
    """Everything a request's authorization needs, read together at request time.

    `token_scopes` is what the app may still do (`Standing.granted`: the token's scopes capped by
    the consent and the app's allowed scopes as they are now); the role's grants are kept apart so
    the decision can tell `scope_missing` from `role_forbids`.
    """

    token_id: int
    token_scopes: tuple[str, ...]
    expires: datetime
    user: User | None
    tenant: Tenant
    role_id: int | None
    role_name: str | None
    role_grants: tuple[tuple[str, str], ...]
    # The scope implication graph as of this request: read with the rest, so one request decides,
    # and writes its headers, under one registry.
    implications: Mapping[str, frozenset[str]] = field(compare=False, repr=False)
    # Why the grant does not stand, when that is not a tenant matter (the decision's tenant step
    # answers those with a 404): consent taken back, user deactivated.
    standing_problem: Problem | None = None

    @property
    def is_member(self) -> bool:
        return self.role_id is not None

    def problem(self, now: datetime) -> str | None:
        """Why the token itself cannot be used (None: it can)."""
        if now >= self.expires:  # the one thing that changes with time alone: checked per request
            return DETAILS[Problem.EXPIRED]
        if self.standing_problem is not None and self.standing_problem not in TENANT_PROBLEMS:
            return DETAILS[self.standing_problem]
        return None


def context_from(found: TokenRows, implications: Mapping[str, frozenset[str]]) -> AuthorizationContext:
    """The API's context for a token read by `token_rows`, judged by `assess` (no expiry: per request)."""
    standing = assess(found.rows, issued=found.scope, implications=implications)
    return AuthorizationContext(
        token_id=found.token_id,
        token_scopes=standing.granted,
        expires=found.expires,
        user=found.rows.user,
        tenant=found.rows.tenant,
        role_id=found.rows.role_id,
        role_name=found.rows.role_name,
        role_grants=found.rows.role_grants,
        implications=implications,
        standing_problem=standing.problem,
    )
