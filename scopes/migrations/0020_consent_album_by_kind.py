"""Album limits stored as (kind, identifier), not as a foreign key to the photos app's table.

The authorization server names no resource table (docs/architecture.md, "Layers"): a consent's
album rows keep the kind (`album`) and the album's id; the photos app tells the permission layer
where albums are (scopes.access.resources). What the foreign key's cascade did, the freshness
trigger on the album table now does for every writer: an album's deletion deletes its links and
moves the consents' versions (scopes.access.freshness, installed again at the end).

The SQL naming the album table is frozen here on purpose, as migrations are history.
"""

from django.db import migrations, models
from django.db.models import F


def drop_album_triggers(apps, schema_editor):
    # The triggers that follow an album into the link table name its old column: drop them before
    # the column goes (SQLite rebuilds the table and refuses while a trigger names the column).
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%scopes_consentalbum%'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
        elif connection.vendor == "postgresql":
            for event in ("upd", "del", "truncate"):
                cursor.execute(f"DROP TRIGGER IF EXISTS photos_album_touch_via_{event} ON photos_album")


def copy_album_ids(apps, schema_editor):
    ConsentAlbum = apps.get_model("scopes", "ConsentAlbum")
    ConsentAlbum._base_manager.using(schema_editor.connection.alias).update(object_id=F("album_id"))


def install_freshness(apps, schema_editor):
    from scopes.access import freshness

    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        # The copy above moved consents' versions (their foreign keys' checks wait, deferred, until
        # commit); PostgreSQL alters no table with checks pending, and install() alters tables.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    freshness.install(connection)


class Migration(migrations.Migration):
    dependencies = [
        ("scopes", "0019_supported_application_settings"),
    ]

    operations = [
        migrations.RunPython(drop_album_triggers, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="consentalbum", name="consentalbum_unique_album"),
        migrations.AddField(
            model_name="consentalbum",
            name="kind",
            field=models.CharField(default="album", editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name="consentalbum", name="object_id", field=models.BigIntegerField(null=True)
        ),
        migrations.RunPython(copy_album_ids, migrations.RunPython.noop),
        migrations.AlterField(model_name="consentalbum", name="object_id", field=models.BigIntegerField()),
        migrations.RemoveField(model_name="consentalbum", name="album"),
        migrations.AlterModelOptions(
            name="consentalbum",
            options={"base_manager_name": "all_tenants", "ordering": ["consent_id", "kind", "object_id"]},
        ),
        migrations.AddIndex(
            model_name="consentalbum",
            index=models.Index(fields=["kind", "object_id"], name="consentalbum_object_idx"),
        ),
        migrations.AddConstraint(
            model_name="consentalbum",
            constraint=models.UniqueConstraint(
                fields=("consent", "kind", "object_id"), name="consentalbum_unique_object"
            ),
        ),
        # Backwards, the triggers go first too: the rebuilt table would not have their columns.
        migrations.RunPython(install_freshness, drop_album_triggers),
    ]
