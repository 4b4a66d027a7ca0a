# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py), for the audit stream.

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_citus_keys"),
    ]

    operations = [
        AddTenantKey(model_name="auditwebhook", name="auditwebhook_tenant_id_key"),
        AddTenantKey(model_name="auditdelivery", name="auditdelivery_tenant_id_key"),
    ]
