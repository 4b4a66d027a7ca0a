"""EnableTenantIsolation emits what the hand-written row-level security migrations installed.

The old migrations stay as they ran in production; the operation is the way for new tenant tables
(docs/security.md, "Tenancy in PostgreSQL"). The text comparison runs everywhere; the catalog one
on PostgreSQL, against the policies those migrations installed (as test_row_level_security reads).
"""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.migrations.state import ProjectState

from accounts.migration_operations import EnableTenantIsolation, tenant_isolation_sql

USER_ROWS = "user_id = (SELECT app_user_id())"
MEMBER_READ = (
    "tenant_id IN (SELECT m.tenant_id FROM accounts_membership m WHERE m.user_id = (SELECT app_user_id()))"
)
CONSENT_ALBUM_ROWS = "consent_id IN (SELECT id FROM scopes_consent WHERE user_id = (SELECT app_user_id()))"

# (migration module, its forward list, its backward list or None, table, own_rows condition)
HAND_WRITTEN = [
    ("photos.migrations.0002_row_level_security", "FORWARD", "BACKWARD", "photos_album", None),
    ("photos.migrations.0002_row_level_security", "FORWARD", "BACKWARD", "photos_photo", None),
    (
        "accounts.migrations.0007_audit_stream_rls_and_secrets",
        "FORWARD",
        "BACKWARD",
        "accounts_auditwebhook",
        None,
    ),
    (
        "accounts.migrations.0007_audit_stream_rls_and_secrets",
        "FORWARD",
        "BACKWARD",
        "accounts_auditdelivery",
        None,
    ),
    ("scopes.migrations.0003_row_level_security", "FORWARD", "BACKWARD", "scopes_consent", USER_ROWS),
    ("scopes.migrations.0003_row_level_security", "FORWARD", "BACKWARD", "scopes_accesstoken", USER_ROWS),
    ("scopes.migrations.0007_machines", "RLS", None, "scopes_serviceaccount", None),
    ("scopes.migrations.0007_machines", "RLS", None, "scopes_personalaccesstoken", USER_ROWS),
    ("scopes.migrations.0008_tenant_policy", "FORWARD", "BACKWARD", "scopes_tenantapp", MEMBER_READ),
    (
        "scopes.migrations.0008_tenant_policy",
        "FORWARD",
        "BACKWARD",
        "scopes_accessrequest",
        "requester_id = (SELECT app_user_id())",
    ),
    ("scopes.migrations.0010_album_limits", "FORWARD", "BACKWARD", "scopes_consentalbum", CONSENT_ALBUM_ROWS),
    ("scopes.migrations.0014_usage", "FORWARD", "BACKWARD", "scopes_scopeusage", USER_ROWS),
]


def _rls_statements(statements: list[str], table: str) -> list[str]:
    """The row-level security statements on `table`, whitespace normalised (no keys, no functions)."""
    normalised = (" ".join(statement.split()) for statement in statements)
    on_table = re.compile(rf"\b(ON|TABLE) {table}\b")
    return [s for s in normalised if ("POLICY" in s or "ROW LEVEL SECURITY" in s) and on_table.search(s)]


@pytest.mark.parametrize(("module", "forward", "backward", "table", "own_rows"), HAND_WRITTEN)
def test_the_operation_emits_the_statements_the_migrations_wrote_by_hand(
    module, forward, backward, table, own_rows
):
    migration = importlib.import_module(module)
    emitted_forward, emitted_backward = tenant_isolation_sql(table, own_rows)
    assert emitted_forward == _rls_statements(getattr(migration, forward), table)
    if backward is not None:
        assert emitted_backward == _rls_statements(getattr(migration, backward), table)


def test_the_operation_is_reversible_and_deconstructs():
    operation = EnableTenantIsolation("album", own_rows=USER_ROWS)
    assert operation.reversible
    assert operation.deconstruct() == (
        "EnableTenantIsolation",
        [],
        {"model_name": "album", "own_rows": USER_ROWS},
    )
    assert EnableTenantIsolation("photo").deconstruct() == (
        "EnableTenantIsolation",
        [],
        {"model_name": "photo"},
    )


def _catalog(table: str) -> tuple[bool, list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass", [table])
        (enabled,) = cursor.fetchone()
        cursor.execute(
            "SELECT policyname, cmd, permissive, roles::text[], qual, with_check FROM pg_policies"
            " WHERE schemaname = current_schema() AND tablename = %s ORDER BY policyname",
            [table],
        )
        return enabled, cursor.fetchall()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")
@pytest.mark.parametrize(
    ("app_label", "model_name", "own_rows"),
    [
        ("photos", "photo", None),
        ("scopes", "consentalbum", CONSENT_ALBUM_ROWS),
        ("scopes", "accessrequest", "requester_id = (SELECT app_user_id())"),
    ],
)
def test_backwards_then_forwards_restores_exactly_what_the_migrations_installed(
    db, app_label, model_name, own_rows
):
    table = django_apps.get_model(app_label, model_name)._meta.db_table
    installed = _catalog(table)
    assert installed[0] and installed[1]
    state = ProjectState.from_apps(django_apps)
    operation = EnableTenantIsolation(model_name, own_rows=own_rows)
    with connection.schema_editor() as editor:  # inside the test's transaction: rolled back after
        operation.database_backwards(app_label, editor, state, state)
        assert _catalog(table) == (False, [])
        operation.database_forwards(app_label, editor, state, state)
    assert _catalog(table) == installed
