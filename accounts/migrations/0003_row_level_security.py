"""Row-level security for memberships and tenant roles (PostgreSQL only; docs/security.md).

Policies compare `tenant_id` with the transaction's `app.tenant_ids` (see accounts.tenancy) and
have no bypass branch. A person's own memberships are also readable (never writable) through
`app.user_id`, for the pages where one user spans tenants (consent, connected apps).

The SQL is frozen here on purpose: a migration must not change when application code does.
"""

from django.db import migrations

FORWARD = [
    # The two settings, parsed once per statement (callers wrap them in a sub-select, which
    # PostgreSQL evaluates once as an init plan instead of once per row).
    """
    CREATE FUNCTION app_tenant_ids() RETURNS bigint[]
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT string_to_array(nullif(current_setting('app.tenant_ids', true), ''), ',')::bigint[] $$
    """,
    """
    CREATE FUNCTION app_user_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::bigint $$
    """,
    # Memberships: a tenant's rows; a person may also read their own, in every tenant.
    "ALTER TABLE accounts_membership ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY tenant_isolation ON accounts_membership
    USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    """,
    """
    CREATE POLICY own_rows_read ON accounts_membership FOR SELECT
    USING (user_id = (SELECT app_user_id()))
    """,
    # Roles: global ones (no tenant) are templates everyone uses; a tenant's own roles are its
    # rows; a person may read the roles of their own memberships.
    "ALTER TABLE accounts_role ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY tenant_isolation ON accounts_role
    USING (tenant_id IS NULL OR tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    WITH CHECK (tenant_id IS NULL OR tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    """,
    """
    CREATE POLICY own_rows_read ON accounts_role FOR SELECT
    USING (id IN (SELECT m.role_id FROM accounts_membership m WHERE m.user_id = (SELECT app_user_id())))
    """,
    # A membership's role is global or the membership's tenant's own: checked by the database,
    # which sees the role even when row-level security hides it from the caller.
    """
    CREATE FUNCTION accounts_membership_role_in_tenant() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp
    AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM accounts_role r
            WHERE r.id = NEW.role_id AND (r.tenant_id IS NULL OR r.tenant_id = NEW.tenant_id)
        ) THEN
            RAISE EXCEPTION 'role % cannot be used in tenant %', NEW.role_id, NEW.tenant_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION accounts_membership_role_in_tenant() FROM PUBLIC",
    """
    CREATE TRIGGER membership_role_in_tenant
    BEFORE INSERT OR UPDATE OF role_id, tenant_id ON accounts_membership
    FOR EACH ROW EXECUTE FUNCTION accounts_membership_role_in_tenant()
    """,
    # ... and a role in use cannot be moved into one tenant while members elsewhere hold it.
    """
    CREATE FUNCTION accounts_role_stays_usable() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp
    AS $$
    BEGIN
        IF NEW.tenant_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM accounts_membership m WHERE m.role_id = NEW.id AND m.tenant_id <> NEW.tenant_id
        ) THEN
            RAISE EXCEPTION 'role % is held in other tenants than %', NEW.id, NEW.tenant_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "REVOKE ALL ON FUNCTION accounts_role_stays_usable() FROM PUBLIC",
    """
    CREATE TRIGGER role_stays_usable
    BEFORE UPDATE OF tenant_id ON accounts_role
    FOR EACH ROW EXECUTE FUNCTION accounts_role_stays_usable()
    """,
]

BACKWARD = [
    "DROP TRIGGER role_stays_usable ON accounts_role",
    "DROP FUNCTION accounts_role_stays_usable()",
    "DROP TRIGGER membership_role_in_tenant ON accounts_membership",
    "DROP FUNCTION accounts_membership_role_in_tenant()",
    "DROP POLICY own_rows_read ON accounts_role",
    "DROP POLICY tenant_isolation ON accounts_role",
    "ALTER TABLE accounts_role DISABLE ROW LEVEL SECURITY",
    "DROP POLICY own_rows_read ON accounts_membership",
    "DROP POLICY tenant_isolation ON accounts_membership",
    "ALTER TABLE accounts_membership DISABLE ROW LEVEL SECURITY",
    "DROP FUNCTION app_user_id()",
    "DROP FUNCTION app_tenant_ids()",
]


def run_on_postgresql(statements):
    """Run `statements` on PostgreSQL only: SQLite has no row-level security."""

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
        ("accounts", "0002_audit_event"),
    ]

    operations = [migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD))]
