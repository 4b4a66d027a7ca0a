# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py).

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_audit_stream"),
    ]

    operations = [
        AddTenantKey(model_name="membership", name="membership_tenant_id_key"),
    ]
