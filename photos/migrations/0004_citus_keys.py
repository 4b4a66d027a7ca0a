# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py).

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("photos", "0003_tenant_managers"),
    ]

    operations = [
        AddTenantKey(model_name="photo", name="photo_tenant_id_key"),
    ]
