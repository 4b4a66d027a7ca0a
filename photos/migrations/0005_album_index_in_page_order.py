"""An album's photos indexed in the page's order, instead of by album alone (issue 26).

Right after a bulk move into an album, before autovacuum analyzes the table, the planner believed
the album nearly empty and took the single-column `album_id` index, then sorted every photo of
the album. Any index led by the album now yields the page's order, so no plan sorts; it still
serves an album's deletion (SET NULL finds the photos by album alone). The new index is made
before the old one goes, so the table is never without one.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("photos", "0004_citus_keys"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="photo",
            index=models.Index(fields=["album", "-created", "-id"], name="photo_album_created_idx"),
        ),
        migrations.AlterField(
            model_name="photo",
            name="album",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="photos",
                to="photos.album",
            ),
        ),
    ]
