"""A tenant may require a second factor of its administrators or of every member (scopes.tenant_policy).

The rule is read with the tenant's app policy in the standing's one statement, and a user's TOTP
devices touch the user's row version (scopes.access.freshness), so enrolling or removing a factor
reaches cached token contexts at the next request.
"""

from django.db import migrations, models


def install_freshness(apps, schema_editor):
    from scopes.access import freshness

    freshness.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("otp_totp", "0003_add_timestamps"),
        ("accounts", "0009_passkeys"),
        ("scopes", "0023_sign_in_strength"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenantapppolicy",
            name="second_factor",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Nobody"),
                    ("admins", "Administrators"),
                    ("members", "Every member"),
                ],
                default="",
                max_length=10,
                verbose_name="second factor required of",
            ),
        ),
        migrations.RunPython(install_freshness, migrations.RunPython.noop),
    ]
