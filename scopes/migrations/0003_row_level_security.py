"""Consents, codes and tokens behind row-level security; token pairs never span tenants.

PostgreSQL only. Policies compare `tenant_id` with the transaction's `app.tenant_ids`
(accounts.tenancy) with no bypass branch; a person may also read (never write) their own rows
through `app.user_id`, for the consent and connected-apps pages where one user spans tenants.

The OAuth endpoints learn the tenant from the credential they are given. These SECURITY DEFINER
functions are the only way across tenants: each maps one credential (a token's SHA-256, an
authorization code) to its tenant id and nothing else, and only the runtime role may call them
(`manage.py setup_rls` grants EXECUTE). The SQL is frozen here on purpose.
"""

from django.conf import settings
from django.db import migrations, models

TENANT_TABLES = ["scopes_consent", "scopes_grant", "scopes_accesstoken", "scopes_refreshtoken"]

RESOLVERS = {
    "scopes_access_token_tenant(text)": "SELECT tenant_id FROM scopes_accesstoken WHERE token_checksum = $1",
    "scopes_refresh_token_tenant(text)": (
        "SELECT tenant_id FROM scopes_refreshtoken WHERE token_checksum = $1 LIMIT 1"
    ),
    "scopes_grant_tenant(text)": "SELECT tenant_id FROM scopes_grant WHERE code = $1",
    "scopes_token_tenant(text)": (
        "SELECT coalesce("
        "(SELECT tenant_id FROM scopes_accesstoken WHERE token_checksum = $1),"
        " (SELECT tenant_id FROM scopes_refreshtoken WHERE token_checksum = $1 LIMIT 1))"
    ),
}

FORWARD = [
    """
    ALTER TABLE scopes_refreshtoken ADD CONSTRAINT refreshtoken_access_token_same_tenant
    FOREIGN KEY (tenant_id, access_token_id) REFERENCES scopes_accesstoken (tenant_id, id)
    """,
    """
    ALTER TABLE scopes_accesstoken ADD CONSTRAINT accesstoken_source_refresh_token_same_tenant
    FOREIGN KEY (tenant_id, source_refresh_token_id) REFERENCES scopes_refreshtoken (tenant_id, id)
    """,
]
for table in TENANT_TABLES:
    FORWARD += [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"""
        CREATE POLICY tenant_isolation ON {table}
        USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
        WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
        """,
        f"CREATE POLICY own_rows_read ON {table} FOR SELECT USING (user_id = (SELECT app_user_id()))",
    ]
for signature, body in RESOLVERS.items():
    FORWARD += [
        f"""
        CREATE FUNCTION {signature} RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {{schema}}, pg_temp
        AS $$ {body} $$
        """,
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
    ]

BACKWARD = [f"DROP FUNCTION {signature}" for signature in RESOLVERS]
for table in reversed(TENANT_TABLES):
    BACKWARD += [
        f"DROP POLICY own_rows_read ON {table}",
        f"DROP POLICY tenant_isolation ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
BACKWARD += [
    "ALTER TABLE scopes_accesstoken DROP CONSTRAINT accesstoken_source_refresh_token_same_tenant",
    "ALTER TABLE scopes_refreshtoken DROP CONSTRAINT refreshtoken_access_token_same_tenant",
]


def run_on_postgresql(statements):
    """Run `statements` on PostgreSQL only, with {schema} bound to the migrated schema."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT quote_ident(current_schema())")
            (schema,) = cursor.fetchone()
        for statement in statements:
            schema_editor.execute(statement.replace("{schema}", schema), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_row_level_security"),
        ("scopes", "0002_seed_scopes_and_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="accesstoken",
            constraint=models.UniqueConstraint(fields=("tenant", "id"), name="accesstoken_tenant_id_key"),
        ),
        migrations.AddConstraint(
            model_name="refreshtoken",
            constraint=models.UniqueConstraint(fields=("tenant", "id"), name="refreshtoken_tenant_id_key"),
        ),
        migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
    ]
