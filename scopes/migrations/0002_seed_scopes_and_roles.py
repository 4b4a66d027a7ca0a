"""Seed the scope registry and the global roles with their grants (DESIGN.md, "Domain model").

The values are frozen here on purpose: a data migration must not import code that may change.
"""

from django.db import migrations

SCOPES = {
    "profile.read": ("See your name, username and e-mail address.", []),
    "photos.read": ("See the photos in this organisation.", []),
    "photos.upload": ("Upload new photos.", []),
    "photos.update": ("Change the titles, descriptions and albums of photos.", []),
    "photos.delete": ("Delete photos.", []),
    "photos.write": (
        "Upload, change and delete photos (includes seeing them).",
        ["photos.upload", "photos.update", "photos.delete", "photos.read"],
    ),
    "albums.read": ("See the albums in this organisation.", []),
    "albums.write": ("Create, rename and delete albums (includes seeing them).", ["albums.read"]),
    "offline_access": ("Keep this access when you are not using the app, until you revoke it.", []),
}

ALL_SCOPES_TENANT = [(name, "tenant") for name in SCOPES]
EVERYONE = [("profile.read", "own"), ("offline_access", "own")]

ROLES = {
    "Owner": ("Runs the organisation: every permission on every object.", ALL_SCOPES_TENANT),
    "Admin": ("Manages the organisation's content: every permission on every object.", ALL_SCOPES_TENANT),
    "Member": (
        "Sees everything in the organisation; changes only their own photos and albums.",
        [
            ("photos.read", "tenant"),
            ("albums.read", "tenant"),
            ("photos.upload", "own"),
            ("photos.update", "own"),
            ("photos.delete", "own"),
            ("albums.write", "own"),
            *EVERYONE,
        ],
    ),
    "Guest": (
        "Can look at the organisation's photos and albums, and change nothing.",
        [("photos.read", "tenant"), ("albums.read", "tenant"), *EVERYONE],
    ),
}


def _db(schema_editor):
    # The migrating connection, which may be the owner's (`migrate --database owner`), not "default".
    return schema_editor.connection.alias if schema_editor is not None else "default"


def seed(apps, schema_editor):
    db = _db(schema_editor)
    Scope = apps.get_model("scopes", "Scope")
    Role = apps.get_model("accounts", "Role")
    RoleGrant = apps.get_model("scopes", "RoleGrant")
    by_name = {}
    for name, (description, _implied) in SCOPES.items():
        by_name[name], _ = Scope.objects.using(db).update_or_create(
            name=name, defaults={"description": description}
        )
    for name, (_description, implied) in SCOPES.items():
        by_name[name].implies.set([by_name[i] for i in implied])
    for role_name, (description, grants) in ROLES.items():
        role, _ = Role.objects.using(db).update_or_create(
            name=role_name, tenant=None, defaults={"description": description}
        )
        for scope_name, reach in grants:
            RoleGrant.objects.using(db).update_or_create(
                role=role, scope=by_name[scope_name], defaults={"reach": reach}
            )


def unseed(apps, schema_editor):
    db = _db(schema_editor)
    RoleGrant = apps.get_model("scopes", "RoleGrant")
    RoleGrant.objects.using(db).filter(role__tenant=None, role__name__in=ROLES).delete()
    apps.get_model("accounts", "Role").objects.using(db).filter(tenant=None, name__in=ROLES).delete()
    apps.get_model("scopes", "Scope").objects.using(db).filter(name__in=SCOPES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("scopes", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
