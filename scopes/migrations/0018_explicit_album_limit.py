"""An album-limited consent is explicit state (`Consent.albums_limited`), not inferred from album rows.

Issue 24, item 1: a consent whose albums were all removed or deleted was read as "not limited" and
the next plain request got a code for every album. The data migration marks every consent that
was ever limited, as far as the database can still tell:

- it still has album rows (`scopes_consentalbum`);
- or a code, access token or refresh token of its (user, tenant, app) carries an album limit
  (`albums` not NULL, "" included: a limit with no album left);
- or the audit log records an album change on it (`consent_albums_grant`/`consent_album_remove`
  write `albums` into `before`/`after`).

A consent limited before, whose album rows are all gone and which left neither a live credential
with a limit nor an audit row, cannot be told from one that was never limited: it stays unlimited.
Marking every consent limited instead would cut every unlimited grant to no album at all.

Consents change row version through their trigger (scopes.access.freshness), so no cached
context survives the flag being set.
"""

from django.db import migrations, models


def mark_limited(apps, schema_editor):
    Consent = apps.get_model("scopes", "Consent")
    ConsentAlbum = apps.get_model("scopes", "ConsentAlbum")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    # The migrating connection (the owner's, under `migrate --database owner`): the default one is
    # the runtime role's, which would wait for this migration's own locks.
    db = schema_editor.connection.alias
    limited: set[int] = set(ConsentAlbum._base_manager.using(db).values_list("consent_id", flat=True))
    grants: set[tuple[int, int, int]] = set()
    for name in ("Grant", "AccessToken", "RefreshToken"):
        model = apps.get_model("scopes", name)
        grants |= set(
            model._base_manager.using(db)
            .filter(albums__isnull=False, user__isnull=False)
            .values_list("user_id", "tenant_id", "application_id")
            .distinct()
        )
    events = (
        AuditEvent._base_manager.using(db)
        .filter(target_type="scopes.Consent")
        .values_list("target_id", "before", "after")
    )
    for target_id, before, after in events.iterator():
        albums_changed = any(isinstance(side, dict) and "albums" in side for side in (before, after))
        if albums_changed and target_id.isdigit():
            limited.add(int(target_id))
    for pk, user_id, tenant_id, application_id in (
        Consent._base_manager.using(db).values_list("pk", "user_id", "tenant_id", "application_id").iterator()
    ):
        if (user_id, tenant_id, application_id) in grants:
            limited.add(pk)
    ids = sorted(limited)
    for start in range(0, len(ids), 500):
        Consent._base_manager.using(db).filter(pk__in=ids[start : start + 500]).update(albums_limited=True)


def drop_sqlite_triggers(apps, schema_editor):
    # SQLite adds a NOT NULL column by rebuilding the table, and refuses to while the freshness
    # triggers of other tables name it; `install_freshness` below puts them all back.
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%scopes_consent%'"
        )
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def install_freshness(apps, schema_editor):
    # SQLite rebuilds the table to add the column and drops the triggers it does not know.
    from scopes.access import freshness

    freshness.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_audit_event"),
        ("scopes", "0017_citus_keys_features"),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, migrations.RunPython.noop),
        migrations.AddField(
            model_name="consent",
            name="albums_limited",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(install_freshness, migrations.RunPython.noop),
        migrations.RunPython(mark_limited, migrations.RunPython.noop),
    ]
