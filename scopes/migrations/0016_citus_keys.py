# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py).

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0015_audit_read_scope"),
    ]

    operations = [
        AddTenantKey(model_name="consent", name="consent_tenant_id_key"),
        AddTenantKey(model_name="grant", name="grant_tenant_id_key"),
    ]
