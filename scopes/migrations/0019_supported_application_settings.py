"""Applications store only what the server supports (issue 24, item 9).

Stored values the server never honoured are mapped before the constraints are added:

- grant types `implicit`, `openid-hybrid` and `password` -> `authorization-code`: the server
  refuses the first three at runtime (RFC 9700 gates), and authorization code with PKCE is the
  flow that replaces each of them for a user-facing app (the app keeps its redirect URIs);
- `skip_authorization` -> false: it never had an effect (the consent view decides from the
  user's remembered consent);
- `algorithm` -> "" (DOT's "no per-app algorithm"): ID tokens are signed RS256 by the server's
  key set whatever the row said.

The constraints are `AddCheck` (accounts/migration_operations.py): real CHECKs on PostgreSQL,
refusing triggers on SQLite, whose table rebuild the freshness triggers would not survive.
"""

from django.conf import settings
from django.db import migrations, models

from accounts.migration_operations import AddCheck

UNSUPPORTED_GRANTS = ("implicit", "openid-hybrid", "password")


def map_unsupported(apps, schema_editor):
    """Rewrite unsupported stored values to the supported ones above (idempotent)."""
    Application = apps.get_model("scopes", "Application")
    db = schema_editor.connection.alias
    Application.objects.using(db).filter(authorization_grant_type__in=UNSUPPORTED_GRANTS).update(
        authorization_grant_type="authorization-code"
    )
    Application.objects.using(db).filter(skip_authorization=True).update(skip_authorization=False)
    Application.objects.using(db).exclude(algorithm="").update(algorithm="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_citus_keys_audit_stream"),
        ("scopes", "0018_explicit_album_limit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(map_unsupported, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="application",
            name="algorithm",
            field=models.CharField(
                blank=True,
                choices=[("", "RS256, by the server's signing keys")],
                default="",
                editable=False,
                max_length=5,
                verbose_name="algorithm",
            ),
        ),
        migrations.AlterField(
            model_name="application",
            name="authorization_grant_type",
            field=models.CharField(
                choices=[
                    ("authorization-code", "Authorization code (with PKCE)"),
                    ("urn:ietf:params:oauth:grant-type:device_code", "Device code (RFC 8628)"),
                    ("client-credentials", "Client credentials (a service account)"),
                ],
                max_length=44,
                verbose_name="authorization grant type",
            ),
        ),
        migrations.AlterField(
            model_name="application",
            name="skip_authorization",
            field=models.BooleanField(default=False, editable=False, verbose_name="skip authorization"),
        ),
        AddCheck(
            "application",
            condition=models.Q(
                authorization_grant_type__in=[
                    "authorization-code",
                    "urn:ietf:params:oauth:grant-type:device_code",
                    "client-credentials",
                ]
            ),
            name="application_supported_grant_type",
        ),
        AddCheck(
            "application",
            condition=models.Q(skip_authorization=False),
            name="application_no_skip_authorization",
        ),
        AddCheck("application", condition=models.Q(algorithm=""), name="application_server_signs_id_tokens"),
    ]
