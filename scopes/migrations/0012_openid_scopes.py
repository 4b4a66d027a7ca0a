"""OpenID Connect's scopes in the registry, with consent text, and every role may grant them.

`openid` is signing in: it lets an app learn who you are and which organisation you chose, and
nothing more. `profile` and `email` are the standard claims of OpenID Connect Core 5.4. They
describe the user themself, so every role (global or a tenant's own) may grant them, like
`profile.read`; an administrator can take a grant away from a role in the admin.

The values are frozen here on purpose: a data migration must not import code that may change.
"""

from django.db import migrations

SCOPES = {
    "openid": (
        "Sign you in: the app learns which account you are and which organisation you chose, and your role there.",
        [],
    ),
    "profile": ("See your name and username.", []),
    "email": ("See your e-mail address.", []),
}


def _db(schema_editor):
    return schema_editor.connection.alias if schema_editor is not None else "default"


def seed(apps, schema_editor):
    db = _db(schema_editor)
    Scope = apps.get_model("scopes", "Scope")
    Role = apps.get_model("accounts", "Role")
    RoleGrant = apps.get_model("scopes", "RoleGrant")
    scopes = []
    for name, (description, _implied) in SCOPES.items():
        scope, _ = Scope.objects.using(db).update_or_create(name=name, defaults={"description": description})
        scopes.append(scope)
    # Roles are tenant rows on PostgreSQL (row-level security); migrations run as the owner.
    for role in Role.objects.using(db).all():
        # As 0002 seeds them: the global Owner and Admin hold every scope over the whole tenant.
        reach = "tenant" if role.tenant_id is None and role.name in ("Owner", "Admin") else "own"
        for scope in scopes:
            RoleGrant.objects.using(db).get_or_create(role=role, scope=scope, defaults={"reach": reach})


def unseed(apps, schema_editor):
    db = _db(schema_editor)
    Scope = apps.get_model("scopes", "Scope")
    apps.get_model("scopes", "RoleGrant").objects.using(db).filter(scope__name__in=SCOPES).delete()
    apps.get_model("scopes", "ApplicationScope").objects.using(db).filter(scope__name__in=SCOPES).delete()
    for scope in Scope.objects.using(db).filter(name__in=SCOPES):
        scope.consents.clear()
    Scope.objects.using(db).filter(name__in=SCOPES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0011_consentalbum_tenant_manager"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
