"""Ready for Citus: every tenant-owned table can be distributed by `tenant_id`. Checked in the catalog.

Citus requires every primary key and unique constraint of a distributed table to include the
distribution column. Django's surrogate `id` keys stay primary keys for now; what this test holds
is that each tenant-owned table (NOT NULL `tenant_id`) already has the unique key `(tenant_id, id)`
that becomes its primary key when it is distributed (`ADD PRIMARY KEY USING INDEX`, no rewrite), and
that every other unique key includes `tenant_id`, or is listed below with the reason and the plan.
Tables whose `tenant_id` may be NULL are not distributed (listed, with why). A new table with a
`tenant_id`, or a new unique key, fails here until it follows the rule or is listed.
docs/deployment.md ("Sharding with Citus") says what remains to do at distribution time.
"""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Tables with a tenant_id that may be NULL: not distributed by tenant.
NOT_DISTRIBUTED: dict[str, str] = {
    "accounts_role": "global roles (tenant NULL) are templates every tenant uses: a reference table",
    "scopes_application": "the client registry, found by client_id before any tenant is known: a reference table",
    "accounts_auditevent": "the operators' log, kept after its tenant is deleted (tenant NULL): stays on the coordinator",
    "scopes_devicegrant": (
        "a device authorization has no tenant until the user approves it, and is found by its device "
        "or user code before that: a short-lived table on the coordinator"
    ),
}

# Unique keys without tenant_id on distributed tables: (table, sorted columns) -> why, and the plan.
GLOBAL_UNIQUE_KEYS: dict[tuple[str, tuple[str, ...]], str] = {
    ("scopes_accesstoken", ("token_checksum",)): (
        "a bearer token is looked up by its checksum before its tenant is known; at distribution the "
        "key becomes (tenant_id, token_checksum) and the lookup goes through the tenant-resolving "
        "function (one routing table checksum -> tenant_id), as enter_tenant_of() already does"
    ),
    ("scopes_refreshtoken", ("revoked", "token_checksum")): "as access tokens' checksum",
    (
        "scopes_grant",
        ("code",),
    ): "an authorization code is looked up before its tenant is known: as token_checksum",
    (
        "scopes_accesstoken",
        ("id_token_id",),
    ): "django-oauth-toolkit's one-to-one link: becomes (tenant_id, id_token_id)",
    ("scopes_accesstoken", ("source_refresh_token_id",)): (
        "django-oauth-toolkit's one-to-one link, to a refresh token of the same tenant (a composite "
        "foreign key holds that): becomes (tenant_id, source_refresh_token_id)"
    ),
    ("scopes_refreshtoken", ("access_token_id",)): "as above: becomes (tenant_id, access_token_id)",
    ("scopes_personalaccesstoken", ("access_token_id",)): "one-to-one with its access token: as above",
    ("scopes_serviceaccount", ("application_id",)): (
        "one client-credentials app per service account, both in its tenant: becomes (tenant_id, application_id)"
    ),
    ("scopes_serviceaccount", ("user_id",)): (
        "one user per service account, a member of its tenant only: becomes (tenant_id, user_id)"
    ),
    ("scopes_consentalbum", ("consent_id", "kind", "object_id")): (
        "an album once per consent, of the consent's tenant: becomes (tenant_id, consent_id, kind, object_id)"
    ),
    ("accounts_auditdelivery", ("sequence", "webhook_id")): (
        "a webhook's delivery order; the webhook belongs to one tenant: becomes (tenant_id, webhook_id, sequence)"
    ),
}

TENANT_TABLES = """
SELECT c.relname, a.attnotnull
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
"""

# Every unique index (primary keys and unique constraints are backed by one), with its columns and
# whether it is partial or on expressions.
UNIQUE_KEYS = """
SELECT c.relname, i.indisprimary, i.indpred IS NOT NULL OR i.indexprs IS NOT NULL,
       array(SELECT a.attname FROM unnest(i.indkey) AS k(attnum)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY a.attname)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
WHERE i.indisunique
"""


@pytest.fixture
def catalog():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    with connection.cursor() as cursor:
        cursor.execute(TENANT_TABLES)
        tables = dict(cursor.fetchall())
        cursor.execute(UNIQUE_KEYS)
        keys = cursor.fetchall()
    return tables, keys


def test_every_tenant_table_is_distributable_by_tenant_id(catalog):
    tables, keys = catalog
    distributed = {name for name, not_null in tables.items() if not_null}
    nullable = {name for name, not_null in tables.items() if not not_null}
    assert nullable == set(NOT_DISTRIBUTED), "a tenant_id that may be NULL: list the table and why"
    assert {"photos_photo", "photos_album", "accounts_membership", "scopes_consent"} <= distributed

    problems = []
    for table in sorted(distributed):
        own = [
            (primary, partial, tuple(columns)) for name, primary, partial, columns in keys if name == table
        ]
        if (False, False, ("id", "tenant_id")) not in own:
            problems.append(f"{table}: no unique key (tenant_id, id) to become its primary key")
        for primary, partial, columns in own:
            if "tenant_id" in columns or (primary and columns == ("id",)):
                continue
            if (table, columns) in GLOBAL_UNIQUE_KEYS:
                continue
            kind = "primary key" if primary else "partial unique index" if partial else "unique key"
            problems.append(f"{table}: {kind} {columns} lacks tenant_id")
    assert problems == [], "\n".join(problems)


def test_the_exceptions_are_all_still_real(catalog):
    """A listed exception that no longer exists is removed from the list (it would hide a new one)."""
    tables, keys = catalog
    present = {(name, tuple(columns)) for name, _, _, columns in keys}
    assert set(GLOBAL_UNIQUE_KEYS) <= present
    assert set(NOT_DISTRIBUTED) <= set(tables)
