# The (tenant_id, id) key Citus distributes by (accounts/migration_operations.py), for the tables
# of service accounts, personal tokens, the tenant app policy, album limits and scope usage.

from django.db import migrations

from accounts.migration_operations import AddTenantKey


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0016_citus_keys"),
    ]

    operations = [
        AddTenantKey(model_name=model, name=f"{model}_tenant_id_key")
        for model in (
            "accessrequest",
            "consentalbum",
            "personalaccesstoken",
            "scopeusage",
            "serviceaccount",
            "tenantapp",
            "tenantapppolicy",
            "tokenpolicy",
        )
    ]
