"""The audit stream inside the database wall (issue 24, item 10).

- `accounts_auditwebhook` and `accounts_auditdelivery` go behind row-level security with the same
  `tenant_isolation` policy as every tenant table (no per-person branch: nobody reads them as a
  person). The delivery worker enters each endpoint's tenant (accounts.audit_stream.delivery).
- Webhook signing secrets are sealed with AUDIT_SECRET_KEY (accounts.sealed): the column widens
  for the ciphertext and existing plain secrets are sealed here (as the owner, which row-level
  security does not confine). Backwards, they are opened again where a configured key can.
- The URL's help text names the outbound guard (item 2; a state-only change).
"""

import django.core.validators
from django.db import migrations, models

import accounts.sealed

TABLES = ("accounts_auditwebhook", "accounts_auditdelivery")
FORWARD = []
BACKWARD = []
for table in TABLES:
    FORWARD += [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"""
        CREATE POLICY tenant_isolation ON {table}
        USING (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
        WITH CHECK (tenant_id = ANY ((SELECT app_tenant_ids())::bigint[]))
        """,
    ]
    BACKWARD += [
        f"DROP POLICY tenant_isolation ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


def _rewrite(schema_editor, change):
    # Raw SQL: the historical field would try to open the plain values as sealed ones.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, secret FROM accounts_auditwebhook")
        for pk, stored in cursor.fetchall():
            new = change(stored)
            if new != stored:
                cursor.execute("UPDATE accounts_auditwebhook SET secret = %s WHERE id = %s", [new, pk])


def seal_existing(apps, schema_editor):
    _rewrite(schema_editor, lambda s: s if accounts.sealed.is_sealed(s) else accounts.sealed.seal(s))


def open_existing(apps, schema_editor):
    def plain(stored):
        value = accounts.sealed.unseal(stored)
        return stored if isinstance(value, accounts.sealed.UnreadableSecret) else value

    _rewrite(schema_editor, plain)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_citus_keys_audit_stream"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditwebhook",
            name="secret",
            field=accounts.sealed.SealedCharField(
                help_text="Shared with the receiver, which checks X-Audit-Signature (HMAC-SHA256) with it.",
                max_length=500,
            ),
        ),
        migrations.AlterField(
            model_name="auditwebhook",
            name="url",
            field=models.URLField(
                help_text=(
                    "Receives a signed POST per audit event. https only; never a loopback, private or "
                    "link-local address (OUTBOUND_ALLOWED_NETWORKS names exceptions)."
                ),
                max_length=500,
                validators=[django.core.validators.URLValidator(schemes=["https", "http"])],
            ),
        ),
        migrations.RunPython(seal_existing, open_existing),
        migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
    ]
