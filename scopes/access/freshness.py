"""Freshness from the database: row versions that triggers keep, whoever writes.

Every cache of authorization data in this project (the per-process token contexts in
`scopes.access.cache`, the scope registry in `scopes.access.selectors.registry`) is used only while the
database says nothing it was built from has changed since. The database says it through versions
that its own triggers maintain, so the promise holds for every writer: the admin, a service,
django-oauth-toolkit, `QuerySet.update()`, `bulk_create`, raw SQL in psql, another process or
server, a data migration. No Django signal is needed for correctness.

What is versioned, and why that is enough
-----------------------------------------
A token's authorization context is computed (`scopes.access.standing`) from exactly these rows:

| row                                   | its version changes when                                 |
|---------------------------------------|----------------------------------------------------------|
| the access token                      | it is inserted or updated; a deleted token has no row     |
| its user                              | any column changes (is_active, ...), or one of its TOTP devices (second factors) |
| its tenant                            | any column changes (is_active, slug, ...), or its token policy (personal access tokens) |
| the user's membership in that tenant  | it changes (role); deleted or new: the join finds another |
| that membership's role                | the role changes, or any of its grants is added, changed or removed |
| the user's consent for the app there  | it changes, or a scope is added to or removed from it; or an album is added to or removed from it, or one of its albums changes or is deleted (album limits) |
| the app                               | it changes, or an allowed scope is added, changed, removed |
| the tenant's app policy               | its mode or second-factor rule changes (scopes.tenant_policy) |
| the app's status in the tenant        | status or cap flag changes, a cap scope is added or removed; deleted or new: the join finds another |
| the scope registry (one global epoch) | a scope, or an implication, is added, changed or removed; and on PostgreSQL any TRUNCATE of grants, consent scopes or app scopes (it cannot name the parents it emptied) |

`PROBE_SQL` reads all ten (the token's own, and the rows the token's user, tenant and app lead
to, joined *as they are now*) in one statement. On PostgreSQL it is a SECURITY DEFINER function
called inside the statement that enters the token's tenant for row-level security, so a warm
request costs no round trip beyond the one it already paid. A cached context is used only when
its fingerprint (the ten values) equals the probe's, and it is stored under the versions that the
statement which read its rows saw in the same snapshot (`scopes.access.rows.GrantRows.versions`,
`scopes.access.cache.fingerprint_of`), not under the probe's answer before it: an entry is exactly
what its fingerprint says, so while the probe shows that fingerprint the rows are as they are, and
any change makes the probe differ and the context is read again. A cache can therefore never serve
a right that the database no longer holds.

Tokens of one grant share it. Every row but the token's own is reached from the token's (user,
tenant, app), so the fingerprint less the token's id and version is the *grant's* fingerprint: a
process holding a grant's rows under the grant fingerprint a token's first probe shows builds the
token's context from the token's own columns alone (`FIRST_USE_SQL`, the probe with those
columns), by the same argument. The token endpoint's client-credentials grant uses the same kept
rows for its service account's grant: its *grant probe* (`scopes.access.rows.grant_probe_sql`) reads
the grant part of the fingerprint through the same joins, from the account's (user, tenant, app)
instead of a token's, and locks the consent as the grant's query would.

Versions are never reused: on PostgreSQL they come from one sequence (which a rollback does not
rewind), on SQLite from `random()` (64 bits). So a row deleted and created again, or a change
rolled back, can never bring back a version a cache has seen. Absence is the exception: a row the
joins do not find (no membership, no consent, no policy) shows NULL, and NULL comes back whenever
the row goes again. That is why an entry is kept under the versions read with its own rows: kept
under a probe's NULL, rows read a moment later with a row that had just been created would be served
again once that row was gone (`test_a_row_that_came_between_the_probe_and_the_read_is_not_served_once_it_is_gone`).

Granularity: a revocation or a consent change touches one token's (or one grant's) rows; a
membership change one user in one tenant; a grant change the holders of one role; only a tenant
or registry change re-reads a whole tenant or everything. Tokens and consents never bump a shared
row, so issuing tokens takes no shared lock.

SQLite: Django rebuilds a table to alter it and the rebuild drops columns and triggers it does not
know; `install()` runs again after every `migrate` (post_migrate) and restores them.
"""

# ruff: noqa: S608  (SQL built from this module's constant table and column names; values are parameters)

from __future__ import annotations

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

from scopes.access.albums import ALBUM_TYPE
from scopes.access.resources import rows_of

VERSION_COLUMN = "row_version"
SEQUENCE = "scopes_row_version_seq"
EPOCH_TABLE = "scopes_registry_epoch"
PROBE_FUNCTION = "scopes_token_probe"
# A scope's name is an identifier: access tokens carry it as text, clients hard-code it, while
# consents, grants and app scopes point at the row. Renaming would make them disagree (a token's
# "photos.write" would match nothing while the consent shows the new name), so the database refuses
# it, whoever writes; a new name is a new scope.
RENAME_REFUSED = "Scope names cannot change: create a new scope instead."


@dataclass(frozen=True)
class Touch:
    """Changes to `child` rows change the version of the `parent` row named by `column`."""

    child: str
    column: str
    parent: str


# Rows whose own version a context depends on.
VERSIONED = (
    "scopes_accesstoken",
    "accounts_user",
    "accounts_tenant",
    "accounts_membership",
    "accounts_role",
    "scopes_consent",
    "scopes_application",
    "scopes_tenantapppolicy",
    "scopes_tenantapp",
)
TOUCHES = (
    Touch("scopes_rolegrant", "role_id", "accounts_role"),
    Touch("scopes_consent_scopes", "consent_id", "scopes_consent"),
    Touch("scopes_applicationscope", "application_id", "scopes_application"),
    # A tenant's policy for personal access tokens (scopes.machines) is read with the tenant.
    Touch("scopes_tokenpolicy", "tenant_id", "accounts_tenant"),
    Touch("scopes_tenantapp_cap", "tenantapp_id", "scopes_tenantapp"),
    # A tenant's blocked client domains are read with the tenant (scopes.access.policy).
    Touch("scopes_blockedclientdomain", "tenant_id", "accounts_tenant"),
    Touch("scopes_consentalbum", "consent_id", "scopes_consent"),
    # A user's second factors (accounts.factors): a tenant may require one (scopes.tenant_policy).
    Touch("otp_totp_totpdevice", "user_id", "accounts_user"),
    Touch("accounts_passkey", "user_id", "accounts_user"),
)


@dataclass(frozen=True)
class TouchVia:
    """Changes to `child` rows change the version of the `parent` rows a `link` table joins them to.

    The link names a child by (`link_kind`, `link_child`): the authorization server stores what a
    consent is limited to as (kind, identifier), and the resource app says where the rows of that
    kind are (scopes.access.resources). A child row's deletion also deletes its links, whoever
    deletes it (the ORM, the admin, raw SQL), as a foreign key's cascade would.
    """

    child: str
    link: str
    link_kind: str
    link_child: str
    link_parent: str
    parent: str
    link_kind_column: str = "kind"


def touches_via() -> tuple[TouchVia, ...]:
    """An album's owner decides whether a role with `own` reach still sees it (album limits): a
    change to an album, or its deletion, moves the version of every consent limited to it."""
    rows = rows_of(ALBUM_TYPE)
    if rows is None:
        return ()
    return (
        TouchVia(rows.table, "scopes_consentalbum", ALBUM_TYPE, "object_id", "consent_id", "scopes_consent"),
    )


# Changes to these move the registry's epoch (scope names, descriptions and implications).
REGISTRY_TABLES = ("scopes_scope", "scopes_scope_implies")

# The token's fingerprint: one row for a live token, none for an unknown or deleted one.
_PROBE_COLUMNS = f"""t.id, t.tenant_id, t.{VERSION_COLUMN}, u.{VERSION_COLUMN}, n.{VERSION_COLUMN},
       m.{VERSION_COLUMN}, r.{VERSION_COLUMN}, c.{VERSION_COLUMN}, a.{VERSION_COLUMN},
       pol.{VERSION_COLUMN}, tap.{VERSION_COLUMN},
       (SELECT e.value FROM {EPOCH_TABLE} e WHERE e.id = 1)"""
_PROBE_FROM = """FROM scopes_accesstoken t
JOIN accounts_tenant n ON n.id = t.tenant_id
LEFT JOIN accounts_user u ON u.id = t.user_id
LEFT JOIN scopes_application a ON a.id = t.application_id
LEFT JOIN accounts_membership m ON m.user_id = t.user_id AND m.tenant_id = t.tenant_id
LEFT JOIN accounts_role r ON r.id = m.role_id
LEFT JOIN scopes_consent c
       ON c.user_id = t.user_id AND c.tenant_id = t.tenant_id AND c.application_id = t.application_id
LEFT JOIN scopes_tenantapppolicy pol ON pol.tenant_id = t.tenant_id
LEFT JOIN scopes_tenantapp tap ON tap.tenant_id = t.tenant_id AND tap.application_id = t.application_id
WHERE t.token_checksum = {param}
"""
PROBE_SQL = f"SELECT {_PROBE_COLUMNS}\n{_PROBE_FROM}"
# The fingerprint's columns, the registry epoch last (the first-use probe's first columns too).
_FINGERPRINT = (
    "token_id",
    "tenant_id",
    "v_token",
    "v_user",
    "v_tenant",
    "v_membership",
    "v_role",
    "v_consent",
    "v_app",
    "v_policy",
    "v_tenant_app",
    "v_registry",
)
PROBE_WIDTH = len(_FINGERPRINT)

# A token's first use in a process (scopes.access.cache): the fingerprint, then the grant the token
# stands on (user, app; the tenant is in the fingerprint) and the token's own columns a context is
# built from. Every other input of the context is the grant's, versioned by the rest of the
# fingerprint, so a process that holds the grant's rows under the same versions builds the context
# from this one row.
FIRST_USE_FUNCTION = "scopes_token_first_use"
# The token's own columns a context is built from, with the type the first-use probe returns
# (`scopes.access.rows.token_on_grant` reads them in this order, after the token's id; the token
# source of `scopes.access.rows` reads the same list). Text columns are cast: `acr` and `amr` are
# varchar in the table, and a function's result must match its declared types exactly.
TOKEN_COLUMNS = (
    ("scope", "text"),
    ("expires", "timestamp with time zone"),
    ("albums", "text"),
    ("created", "timestamp with time zone"),
    ("resource", "jsonb"),
    ("acr", "text"),
    ("amr", "text"),
    ("auth_time", "timestamp with time zone"),
)
_FIRST_USE_GRANT = (("user_id", "bigint"), ("application_id", "bigint"))
# Its result, spelled as `pg_get_function_result` prints it (so that a changed shape is recognised).
_FIRST_USE_RESULT = ", ".join(
    (
        *(f"{name} bigint" for name in _FINGERPRINT),
        *(f"{name} {kind}" for name, kind in (*_FIRST_USE_GRANT, *TOKEN_COLUMNS)),
    )
)
_FIRST_USE_COLUMNS = ", ".join(
    f"CAST(t.{name} AS text)" if kind == "text" else f"t.{name}"
    for name, kind in (*_FIRST_USE_GRANT, *TOKEN_COLUMNS)
)
FIRST_USE_SQL = f"""SELECT {_PROBE_COLUMNS},
       {_FIRST_USE_COLUMNS}
{_PROBE_FROM}"""


def _present(tables: set[str] | None, *names: str) -> bool:
    """Whether the tables exist (None: assume so). An early migration installs before later tables exist."""
    return tables is None or set(names) <= tables


def _versioned(tables: set[str] | None) -> tuple[str, ...]:
    return tuple(t for t in VERSIONED if _present(tables, t))


def _postgresql(
    schema: str, tables: set[str] | None = None, vias: tuple[TouchVia, ...] | None = None
) -> list[str]:
    versioned = _versioned(tables)
    definer = f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp"
    statements = [
        f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}",
        f"CREATE TABLE IF NOT EXISTS {EPOCH_TABLE} (id smallint PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)",
        f"INSERT INTO {EPOCH_TABLE} VALUES (1, nextval('{SEQUENCE}')) ON CONFLICT (id) DO NOTHING",
        f"""CREATE OR REPLACE FUNCTION scopes_stamp_row() RETURNS trigger {definer} AS $$
        BEGIN NEW.{VERSION_COLUMN} := nextval('{SEQUENCE}'); RETURN NEW; END $$""",
        f"""CREATE OR REPLACE FUNCTION scopes_bump_registry() RETURNS trigger {definer} AS $$
        BEGIN UPDATE {EPOCH_TABLE} SET value = nextval('{SEQUENCE}') WHERE id = 1; RETURN NULL; END $$""",
    ]
    for table in versioned:
        statements += [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {VERSION_COLUMN} bigint NOT NULL DEFAULT 0",
            f"""CREATE OR REPLACE TRIGGER {table}_row_version BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION scopes_stamp_row()""",
        ]
    touches = [t for t in TOUCHES if _present(tables, t.child, t.parent)]
    chosen = [
        v for v in (touches_via() if vias is None else vias) if _present(tables, v.child, v.link, v.parent)
    ]
    for touch in touches:
        # Statement-level with transition tables: a 10,000-row insert touches each parent once.
        function = f"scopes_touch_{touch.child}"
        touch_sql = f"UPDATE {touch.parent} SET {VERSION_COLUMN} = 0 WHERE id IN (SELECT {touch.column} FROM {{rows}})"
        statements += [
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger {definer} AS $$
            BEGIN
                IF TG_OP IN ('INSERT', 'UPDATE') THEN {touch_sql.format(rows="new_rows")}; END IF;
                IF TG_OP IN ('DELETE', 'UPDATE') THEN {touch_sql.format(rows="old_rows")}; END IF;
                RETURN NULL;
            END $$""",
            f"""CREATE OR REPLACE TRIGGER {touch.child}_touch_ins AFTER INSERT ON {touch.child}
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE OR REPLACE TRIGGER {touch.child}_touch_upd AFTER UPDATE ON {touch.child}
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE OR REPLACE TRIGGER {touch.child}_touch_del AFTER DELETE ON {touch.child}
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        ]
    for via in chosen:
        function = f"scopes_touch_via_{via.child}"
        linked = f"l.{via.link_kind_column} = '{via.link_kind}' AND l.{via.link_child} IN (SELECT id FROM old_rows)"
        touch_sql = (
            f"UPDATE {via.parent} SET {VERSION_COLUMN} = 0 WHERE id IN (SELECT l.{via.link_parent} "
            f"FROM {via.link} l WHERE {linked})"
        )
        unlink_sql = f"DELETE FROM {via.link} l WHERE {linked}"
        statements += [
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger {definer} AS $$
            BEGIN
                {touch_sql};
                IF TG_OP = 'DELETE' THEN {unlink_sql}; END IF;
                RETURN NULL;
            END $$""",
            f"""CREATE OR REPLACE TRIGGER {via.child}_touch_via_upd AFTER UPDATE ON {via.child}
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE OR REPLACE TRIGGER {via.child}_touch_via_del AFTER DELETE ON {via.child}
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE OR REPLACE TRIGGER {via.child}_touch_via_truncate AFTER TRUNCATE ON {via.child}
            FOR EACH STATEMENT EXECUTE FUNCTION scopes_bump_registry()""",
        ]
    for touch in touches:
        # TRUNCATE fires no row or DELETE trigger and cannot say which parents it emptied: it moves
        # the registry epoch, which every fingerprint holds, so every context is read again.
        statements.append(
            f"""CREATE OR REPLACE TRIGGER {touch.child}_touch_truncate AFTER TRUNCATE ON {touch.child}
            FOR EACH STATEMENT EXECUTE FUNCTION scopes_bump_registry()"""
        )
    statements += [
        f"""CREATE OR REPLACE FUNCTION scopes_refuse_rename() RETURNS trigger {definer} AS $$
        BEGIN RAISE EXCEPTION '{RENAME_REFUSED}'; END $$""",
        """CREATE OR REPLACE TRIGGER scopes_scope_name_fixed BEFORE UPDATE OF name ON scopes_scope
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION scopes_refuse_rename()""",
    ]
    for table in REGISTRY_TABLES:
        statements.append(
            f"""CREATE OR REPLACE TRIGGER {table}_registry_epoch
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION scopes_bump_registry()"""
        )
    # The probe: the token's tenant and fingerprint across tenants (row-level security would hide
    # the rows before the tenant is entered). Like the credential resolvers, it answers only to a
    # caller that holds the token's checksum, and only with the tenant id and version numbers; the
    # first-use probe also with the token's grant and own columns (what holding the token tells).
    statements += [
        # A probe of an older shape (before the tenant app policy's columns) cannot be replaced in
        # place (its result type changes): drop it once; `setup_rls` grants EXECUTE again.
        f"""DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = '{PROBE_FUNCTION}'
                       AND pronamespace = '{schema}'::regnamespace
                       AND pg_get_function_result(oid) NOT LIKE '%v_tenant_app%') THEN
                DROP FUNCTION {PROBE_FUNCTION}(text);
            END IF;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {PROBE_FUNCTION}(checksum text)
        RETURNS TABLE (token_id bigint, tenant_id bigint, v_token bigint, v_user bigint, v_tenant bigint,
                       v_membership bigint, v_role bigint, v_consent bigint, v_app bigint,
                       v_policy bigint, v_tenant_app bigint, v_registry bigint)
        {definer} STABLE AS $$
        #variable_conflict use_column
        BEGIN RETURN QUERY {PROBE_SQL.format(param="checksum")}; END $$""",
        f"REVOKE ALL ON FUNCTION {PROBE_FUNCTION}(text) FROM PUBLIC",
        # Of another shape (its columns changed since it was made): dropped, as the probe's once was.
        f"""DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = '{FIRST_USE_FUNCTION}'
                       AND pronamespace = '{schema}'::regnamespace
                       AND pg_get_function_result(oid) <> 'TABLE({_FIRST_USE_RESULT})') THEN
                DROP FUNCTION {FIRST_USE_FUNCTION}(text);
            END IF;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {FIRST_USE_FUNCTION}(checksum text)
        RETURNS TABLE ({_FIRST_USE_RESULT})
        {definer} STABLE AS $$
        #variable_conflict use_column
        BEGIN RETURN QUERY {FIRST_USE_SQL.format(param="checksum")}; END $$""",
        f"REVOKE ALL ON FUNCTION {FIRST_USE_FUNCTION}(text) FROM PUBLIC",
        f"""CREATE OR REPLACE FUNCTION scopes_registry_version() RETURNS bigint {definer} STABLE AS $$
        BEGIN RETURN (SELECT value FROM {EPOCH_TABLE} WHERE id = 1); END $$""",
        "REVOKE ALL ON FUNCTION scopes_registry_version() FROM PUBLIC",
    ]
    return statements


def _sqlite_columns(connection: BaseDatabaseWrapper, table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA table_info({table})")
        return {row[1] for row in cursor.fetchall()}


def _sqlite(
    connection: BaseDatabaseWrapper, tables: set[str] | None = None, vias: tuple[TouchVia, ...] | None = None
) -> list[str]:
    versioned = _versioned(tables)
    stamp = f"{VERSION_COLUMN} = random()"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {EPOCH_TABLE} (id integer PRIMARY KEY CHECK (id = 1), value integer NOT NULL)",
        f"INSERT OR IGNORE INTO {EPOCH_TABLE} VALUES (1, random())",
    ]
    for table in versioned:
        if VERSION_COLUMN not in _sqlite_columns(connection, table):
            statements.append(f"ALTER TABLE {table} ADD COLUMN {VERSION_COLUMN} integer NOT NULL DEFAULT 0")
        # AFTER triggers rewrite the row; SQLite does not fire them again (recursive_triggers is off).
        for event in ("INSERT", "UPDATE"):
            statements.append(
                f"""CREATE TRIGGER IF NOT EXISTS {table}_row_version_{event.lower()} AFTER {event} ON {table}
                BEGIN UPDATE {table} SET {stamp} WHERE rowid = NEW.rowid; END"""
            )
    for touch in [t for t in TOUCHES if _present(tables, t.child, t.parent)]:
        parent = f"UPDATE {touch.parent} SET {stamp} WHERE id = {{row}}.{touch.column};"
        for event, rows in (("INSERT", ["NEW"]), ("UPDATE", ["NEW", "OLD"]), ("DELETE", ["OLD"])):
            body = " ".join(parent.format(row=row) for row in rows)
            statements.append(
                f"""CREATE TRIGGER IF NOT EXISTS {touch.child}_touch_{event.lower()} AFTER {event} ON {touch.child}
                BEGIN {body} END"""
            )
    for via in [
        v for v in (touches_via() if vias is None else vias) if _present(tables, v.child, v.link, v.parent)
    ]:
        linked = f"{via.link_kind_column} = '{via.link_kind}' AND {via.link_child} = OLD.id"
        body = f"UPDATE {via.parent} SET {stamp} WHERE id IN (SELECT {via.link_parent} FROM {via.link} WHERE {linked});"
        for event in ("UPDATE", "DELETE"):
            unlink = f" DELETE FROM {via.link} WHERE {linked};" if event == "DELETE" else ""
            statements.append(
                f"""CREATE TRIGGER IF NOT EXISTS {via.child}_touch_via_{event.lower()} AFTER {event} ON {via.child}
                BEGIN {body}{unlink} END"""
            )
    statements.append(
        f"""CREATE TRIGGER IF NOT EXISTS scopes_scope_name_fixed BEFORE UPDATE OF name ON scopes_scope
        WHEN OLD.name <> NEW.name BEGIN SELECT RAISE(ABORT, '{RENAME_REFUSED}'); END"""
    )
    for table in REGISTRY_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            statements.append(
                f"""CREATE TRIGGER IF NOT EXISTS {table}_registry_epoch_{event.lower()} AFTER {event} ON {table}
                BEGIN UPDATE {EPOCH_TABLE} SET value = random() WHERE id = 1; END"""
            )
    return statements


def _links_by_kind(connection: BaseDatabaseWrapper, via: TouchVia) -> bool:
    """Whether the link table names its rows by (kind, identifier) yet (scopes 0020; an older
    migration that installs must not make a trigger on columns that do not exist)."""
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, via.link)}
    return {via.link_kind_column, via.link_child} <= columns


def install(connection: BaseDatabaseWrapper) -> None:
    """Create (or repair) the version columns, triggers and the probe; idempotent."""
    # A migration older than a touched table (scopes 0006 before 0007) installs the rest; the
    # migration that creates the table installs its triggers.
    tables = set(connection.introspection.table_names())
    vias = tuple(v for v in touches_via() if v.link not in tables or _links_by_kind(connection, v))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(current_schema())")
            (schema,) = cursor.fetchone()
        statements = _postgresql(schema, tables, vias)
    elif connection.vendor == "sqlite":
        statements = _sqlite(connection, tables, vias)
    else:  # pragma: no cover - the project supports PostgreSQL and SQLite
        raise NotImplementedError(f"No freshness triggers for {connection.vendor}.")
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _trigger_names(statements: list[str]) -> set[str]:
    names = set()
    for statement in statements:
        for marker in ("CREATE TRIGGER IF NOT EXISTS", "CREATE OR REPLACE TRIGGER"):
            if marker in statement:
                names.add(statement.split(marker, 1)[1].split()[0])
    return names


def installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether every trigger `install()` creates, and every version column, is in place."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            present = {name for (name,) in cursor.fetchall()}
            return _trigger_names(_postgresql("public")) <= present
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
    return _trigger_names(_sqlite(connection)) <= present and all(
        VERSION_COLUMN in _sqlite_columns(connection, table) for table in VERSIONED
    )


def bump_registry(connection: BaseDatabaseWrapper) -> None:
    """Move the registry epoch by hand: after a migration, which may rewrite anything."""
    value = f"nextval('{SEQUENCE}')" if connection.vendor == "postgresql" else "random()"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {EPOCH_TABLE} SET value = {value} WHERE id = 1")
