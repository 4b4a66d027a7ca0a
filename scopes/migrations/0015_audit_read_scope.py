"""The `audit.read` scope (the tenant audit API), granted only to the Owner and Admin roles.

Frozen values, as in 0002: a data migration must not import code that may change. Tenant roles of
their own get it only when an administrator grants it.
"""

from django.db import migrations

NAME = "audit.read"
DESCRIPTION = "Read this organisation's audit log: who changed which permission, and when."
HOLDERS = ["Owner", "Admin"]


def _db(schema_editor):
    return schema_editor.connection.alias if schema_editor is not None else "default"


def seed(apps, schema_editor):
    db = _db(schema_editor)
    Scope = apps.get_model("scopes", "Scope")
    Role = apps.get_model("accounts", "Role")
    RoleGrant = apps.get_model("scopes", "RoleGrant")
    scope, _ = Scope.objects.using(db).get_or_create(name=NAME, defaults={"description": DESCRIPTION})
    for role in Role.objects.using(db).filter(tenant=None, name__in=HOLDERS):
        RoleGrant.objects.using(db).get_or_create(role=role, scope=scope, defaults={"reach": "tenant"})


def unseed(apps, schema_editor):
    db = _db(schema_editor)
    apps.get_model("scopes", "RoleGrant").objects.using(db).filter(scope__name=NAME).delete()
    apps.get_model("scopes", "ApplicationScope").objects.using(db).filter(scope__name=NAME).delete()
    apps.get_model("scopes", "Scope").objects.using(db).filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("scopes", "0014_usage")]

    operations = [migrations.RunPython(seed, unseed)]
