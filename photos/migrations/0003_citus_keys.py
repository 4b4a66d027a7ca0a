# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py).

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("photos", "0002_row_level_security"),
    ]

    operations = [
        AddTenantKey(model_name="photo", name="photo_tenant_id_key"),
    ]
