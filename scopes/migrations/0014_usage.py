"""Scope usage by day (scopes.usage), behind row-level security like every tenant table.

A person may read their own rows (the connected-apps page spans tenants), never write them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FORWARD = [
    "ALTER TABLE scopes_scopeusage ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY tenant_isolation ON scopes_scopeusage
    USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    """,
    "CREATE POLICY own_rows_read ON scopes_scopeusage FOR SELECT USING (user_id = (SELECT app_user_id()))",
]
BACKWARD = [
    "DROP POLICY own_rows_read ON scopes_scopeusage",
    "DROP POLICY tenant_isolation ON scopes_scopeusage",
    "ALTER TABLE scopes_scopeusage DISABLE ROW LEVEL SECURITY",
]


def run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_row_level_security"),
        ("scopes", "0013_device_grant"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ScopeUsage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scope", models.CharField(max_length=64)),
                ("last_used", models.DateField()),
                (
                    "application",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.tenant"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["application", "tenant"], name="scopeusage_app_tenant_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "application", "user", "scope"), name="scopeusage_unique_key"
                    )
                ],
            },
        ),
        migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
    ]
