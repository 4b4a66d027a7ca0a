"""Self-registered clients (client ID metadata documents, RFC 7591): where each came from, the
domains a tenant blocks, and whether a tenant allows dynamically registered apps
(docs/security.md, "Self-registered clients").

- The application's metadata document URL, when it was fetched, and its client ID's host.
- `TenantAppPolicy.dynamic_clients`, off: an RFC 7591 app is refused until the tenant allows them.
- `scopes_blockedclientdomain`, behind row-level security: `tenant_isolation` as everywhere, and a
  member may read (never write) their tenants' rows, as the policy tables (the consent page asks
  the standing, which joins them, before any tenant is entered).
- Row versions: a block moves the tenant's version (`scopes.access.freshness.install`, idempotent),
  so it reaches live tokens on their next request, whoever writes it.
"""

import django.db.models.deletion
import django.db.models.manager
from django.db import migrations, models

from accounts.migration_operations import EnableTenantIsolation

MEMBER_READ = (
    "tenant_id IN (SELECT m.tenant_id FROM accounts_membership m WHERE m.user_id = (SELECT app_user_id()))"
)


def drop_policy_triggers(apps, schema_editor):
    # SQLite rebuilds the policy table to add a NOT NULL column, and the freshness triggers on it
    # would go with the old table: drop them first, `install_freshness` puts them back. (The
    # application's new columns are nullable: SQLite adds them in place, keeping its triggers.)
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%scopes_tenantapppolicy%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def install_freshness(apps, schema_editor):
    from scopes.access import freshness

    freshness.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0026_device_grant_sign_in"),
    ]

    operations = [
        migrations.RunPython(drop_policy_triggers, install_freshness),
        migrations.AddField(
            model_name="application",
            name="client_host",
            field=models.CharField(
                blank=True, editable=False, max_length=253, null=True, verbose_name="client ID host"
            ),
        ),
        migrations.AddField(
            model_name="application",
            name="metadata_fetched_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="metadata document fetched at"
            ),
        ),
        migrations.AddField(
            model_name="application",
            name="metadata_url",
            field=models.CharField(
                blank=True, editable=False, max_length=255, null=True, verbose_name="metadata document URL"
            ),
        ),
        migrations.AddField(
            model_name="tenantapppolicy",
            name="dynamic_clients",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Apps that registered themselves through dynamic registration (RFC 7591) may be used "
                    "here (unticked: only those the tenant approved one by one)."
                ),
            ),
        ),
        migrations.CreateModel(
            name="BlockedClientDomain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("domain", models.CharField(max_length=253)),
                ("note", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.tenant"
                    ),
                ),
            ],
            options={
                "verbose_name": "blocked client domain",
                "ordering": ["domain"],
                "abstract": False,
                "base_manager_name": "all_tenants",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "id"), name="blockedclientdomain_tenant_id_key"
                    ),
                    models.UniqueConstraint(
                        fields=("tenant", "domain"), name="blockedclientdomain_unique_domain"
                    ),
                ],
            },
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("all_tenants", django.db.models.manager.Manager()),
            ],
        ),
        EnableTenantIsolation(model_name="blockedclientdomain", own_rows=MEMBER_READ),
        migrations.RunPython(install_freshness, drop_policy_triggers),
    ]
