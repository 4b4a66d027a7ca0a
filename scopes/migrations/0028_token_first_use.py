"""The first-use probe (`scopes.access.freshness.FIRST_USE_SQL`): a token new to a process whose grant
the process holds costs one statement. PostgreSQL: a SECURITY DEFINER function like the probe
(`setup_rls` grants it to the runtime role); SQLite sends the statement itself. `install` is
idempotent and creates it."""

from django.db import migrations


def install_freshness(apps, schema_editor):
    from scopes.access import freshness

    freshness.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("scopes", "0027_self_registered_clients")]

    operations = [migrations.RunPython(install_freshness, migrations.RunPython.noop)]
