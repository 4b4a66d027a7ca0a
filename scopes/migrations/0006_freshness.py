"""Row versions kept by database triggers, and the token probe (scopes.access.freshness says why).

The statements live in `scopes.access.freshness` (one definition for this migration and for SQLite's
repair after a table rebuild); they are idempotent.
"""

from django.db import migrations


def install(apps, schema_editor):
    from scopes.access import freshness

    freshness.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_row_level_security"),
        ("scopes", "0005_oauth_holes"),
    ]

    # Backwards: the columns and triggers stay (harmless to older code, which never reads them).
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
