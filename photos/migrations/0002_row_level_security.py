"""Photos and albums behind row-level security, and a photo's album always in the photo's tenant.

PostgreSQL only (SQLite keeps the ORM's fail-closed querysets): the policies compare `tenant_id`
with the transaction's `app.tenant_ids` (accounts.tenancy) and have no bypass branch; the
composite foreign key (tenant_id, album_id) -> album (tenant_id, id) refuses a photo that points
at another tenant's album, whatever the code above it does. The SQL is frozen here on purpose.
"""

from django.conf import settings
from django.db import migrations, models

FORWARD = [
    """
    ALTER TABLE photos_photo ADD CONSTRAINT photo_album_same_tenant
    FOREIGN KEY (tenant_id, album_id) REFERENCES photos_album (tenant_id, id)
    """,
    "ALTER TABLE photos_album ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY tenant_isolation ON photos_album
    USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    """,
    "ALTER TABLE photos_photo ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY tenant_isolation ON photos_photo
    USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
    """,
]

BACKWARD = [
    "DROP POLICY tenant_isolation ON photos_photo",
    "ALTER TABLE photos_photo DISABLE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON photos_album",
    "ALTER TABLE photos_album DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE photos_photo DROP CONSTRAINT photo_album_same_tenant",
]


def run_on_postgresql(statements):
    """Run `statements` on PostgreSQL only."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_row_level_security"),
        ("photos", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="album",
            constraint=models.UniqueConstraint(fields=("tenant", "id"), name="album_tenant_id_key"),
        ),
        migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
    ]
