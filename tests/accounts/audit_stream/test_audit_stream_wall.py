"""Issue 24 item 10: the audit stream inside the database wall, its signing secrets sealed at rest.

The runtime role sees only the entered tenant's webhooks and deliveries; the worker still delivers
for every tenant, entering each endpoint's tenant; the secret column holds ciphertext under
AUDIT_SECRET_KEY (rotatable), and the admin never shows a stored secret back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from psycopg import sql

from accounts.audit_stream.delivery import Settings, run_once
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.constants import AuditAction
from accounts.models import Tenant
from accounts.services import audit_record
from tests import rls
from tests.accounts.audit_stream.receiver import Receiver

ROOT = Path(__file__).resolve().parents[3]
FAST = Settings(lease_seconds=5, timeout_seconds=2, backoff_base_seconds=60.0)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row-level security is PostgreSQL's"
)


def _stored_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM accounts_auditwebhook WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def receiver(settings) -> Iterator[tuple[Receiver, str]]:
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    running = Receiver()
    base = running.start()
    yield running, base
    running.stop()


@pytest.mark.django_db
def test_the_secret_column_holds_ciphertext_not_the_secret(world):
    hook = AuditWebhook.objects.create(
        tenant=world.acme, url="https://hooks.example.com/", secret="plain-secret-1234"
    )
    stored = _stored_secret(hook.pk)
    assert "plain-secret-1234" not in stored and stored.startswith("fernet:")
    assert AuditWebhook.objects.get(pk=hook.pk).secret == "plain-secret-1234"
    AuditWebhook.objects.filter(pk=hook.pk).update(secret="changed-secret-5678")  # update() seals too
    assert "changed-secret-5678" not in _stored_secret(hook.pk)
    assert AuditWebhook.objects.get(pk=hook.pk).secret == "changed-secret-5678"


@pytest.mark.django_db
def test_rotation_old_keys_open_the_first_seals_and_reseal_moves_them(world, settings):
    from accounts import sealed

    old, new = "old-audit-key-" + "o" * 32, "new-audit-key-" + "n" * 32
    settings.AUDIT_SECRET_KEYS = [old]
    hook = AuditWebhook.objects.create(
        tenant=world.acme, url="https://hooks.example.com/", secret="rotate-me-please"
    )
    settings.AUDIT_SECRET_KEYS = [new, old]
    assert AuditWebhook.objects.get(pk=hook.pk).secret == "rotate-me-please"
    call_command("reseal_secrets", stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings.AUDIT_SECRET_KEYS = [new]
    assert AuditWebhook.objects.get(pk=hook.pk).secret == "rotate-me-please"
    assert sealed.unseal(_stored_secret(hook.pk), keys=[old]) != "rotate-me-please"


@pytest.mark.django_db
def test_a_secret_no_key_opens_is_refused_at_delivery_and_kept(world, settings, receiver):
    running, base = receiver
    settings.AUDIT_SECRET_KEYS = ["lost-audit-key-" + "l" * 32]
    hook = AuditWebhook.objects.create(tenant=world.acme, url=f"{base}/acme", secret="signing-secret-xyz")
    audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme)
    before = _stored_secret(hook.pk)
    settings.AUDIT_SECRET_KEYS = ["another-audit-key-" + "a" * 32]
    assert run_once("test", FAST) == 0
    assert running.received == []
    delivery = AuditDelivery.objects.get()
    assert (
        delivery.last_error
        == "refused: the signing secret cannot be unsealed with the configured AUDIT_SECRET_KEY"
    )
    assert _stored_secret(hook.pk) == before  # the worker's writes never rewrite what it cannot read


@pytest.mark.django_db
def test_the_admin_never_shows_a_stored_secret_and_keeps_it_unless_replaced(world, admin_client):
    hook = AuditWebhook.objects.create(
        tenant=world.acme, url="https://hooks.example.com/", secret="stored-secret-value-9f3a"
    )
    page = admin_client.get(f"/admin/accounts/auditwebhook/{hook.pk}/change/").content.decode()
    assert "stored-secret-value-9f3a" not in page and "stored-secret-value" not in page
    assert "24 characters, ending in …9f3a" in page
    form = {"tenant": world.acme.pk, "url": "https://hooks2.example.com/", "secret": "", "is_active": "on"}
    assert admin_client.post(f"/admin/accounts/auditwebhook/{hook.pk}/change/", form).status_code == 302
    hook.refresh_from_db()
    assert (hook.url, hook.secret) == ("https://hooks2.example.com/", "stored-secret-value-9f3a")
    form["secret"] = "a-brand-new-secret-0000"
    assert admin_client.post(f"/admin/accounts/auditwebhook/{hook.pk}/change/", form).status_code == 302
    hook.refresh_from_db()
    assert hook.secret == "a-brand-new-secret-0000"
    assert (
        "a-brand-new-secret"
        not in admin_client.get(f"/admin/accounts/auditwebhook/{hook.pk}/change/").content.decode()
    )


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"AUDIT_SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    code = "import os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; from django.conf import settings; print(len(settings.AUDIT_SECRET_KEYS))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "ENV_FILE": "", "SECRET_KEY": "x", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
    )


def test_settings_require_the_audit_key_outside_debug_and_refuse_a_short_one():
    missing = _load_settings({"DEBUG": "0"})
    assert missing.returncode != 0 and "AUDIT_SECRET_KEY must be set" in missing.stderr
    short = _load_settings({"DEBUG": "0", "AUDIT_SECRET_KEY": "too-short"})
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    rotating = _load_settings({"DEBUG": "0", "AUDIT_SECRET_KEY": "n" * 32 + "," + "o" * 32})
    assert (rotating.returncode, rotating.stdout.strip()) == (0, "2"), rotating.stderr
    development = _load_settings({"DEBUG": "1"})  # `make run`: a development key of its own
    assert (development.returncode, development.stdout.strip()) == (0, "1"), development.stderr


@postgresql_only
@pytest.mark.django_db
def test_as_the_runtime_role_another_tenants_webhooks_and_deliveries_are_invisible(world):
    hooks = {
        t.slug: AuditWebhook.objects.create(tenant=t, url="https://h.example.com/", secret="s" * 20)
        for t in (world.acme, world.globex)
    }
    for tenant in (world.acme, world.globex):
        audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=tenant, tenant=tenant)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(rls.runtime_role())))
        try:
            cursor.execute("SELECT set_config('app.tenant_ids', %s, false)", [str(world.acme.pk)])
            cursor.execute("SELECT id FROM accounts_auditwebhook")
            assert cursor.fetchall() == [(hooks["acme"].pk,)]
            cursor.execute(
                "SELECT count(*) FROM accounts_auditwebhook WHERE tenant_id = %s", [world.globex.pk]
            )
            assert cursor.fetchone()[0] == 0
            cursor.execute("SELECT DISTINCT tenant_id FROM accounts_auditdelivery")
            assert cursor.fetchall() == [(world.acme.pk,)]
            cursor.execute("SELECT set_config('app.tenant_ids', '', false)")
            cursor.execute("SELECT count(*) FROM accounts_auditwebhook")
            assert cursor.fetchone()[0] == 0
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute("SELECT set_config('app.tenant_ids', '', false)")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_worker_as_the_runtime_role_delivers_for_every_tenant(receiver):
    """Committed rows, the worker's own transactions: it sees each tenant only by entering it."""
    running, base = receiver
    tenants = [Tenant.objects.create(slug=f"wall-{i}", name=f"wall {i}") for i in range(3)]
    for tenant in tenants:
        AuditWebhook.objects.create(
            tenant=tenant, url=f"{base}/{tenant.slug}", secret=f"secret-{tenant.slug}"
        )
        for i in range(2):
            audit_record(
                actor=None, action=AuditAction.ROLE_CHANGED, target=tenant, tenant=tenant, after={"i": i}
            )
    connection.ensure_connection()
    connection.connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(rls.runtime_role())))
    try:
        delivered = run_once("wall-test", FAST)
        # An audited write as the runtime role, in a transaction that entered another tenant: the
        # outbox enters the event's tenant itself, so the delivery is still queued.
        from django.db import transaction

        from accounts import tenancy

        with transaction.atomic():
            tenancy.enter_tenant(tenants[1].pk)
            audit_record(actor=None, action=AuditAction.ROLE_CHANGED, target=tenants[0], tenant=tenants[0])
        delivered += run_once("wall-test", FAST)
    finally:
        connection.connection.execute("RESET ROLE")
    assert delivered == 7
    for tenant in tenants:
        got = running.at(f"/{tenant.slug}")
        assert len(got) == (3 if tenant == tenants[0] else 2)
        assert all(r.signed_by(f"secret-{tenant.slug}") for r in got)
    assert not AuditDelivery.objects.filter(delivered_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_plain_secrets_and_opens_them_backwards():
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before, latest = (
        ("accounts", "0006_citus_keys_audit_stream"),
        ("accounts", "0007_audit_stream_rls_and_secrets"),
    )
    MigrationExecutor(connection).migrate([before])
    try:
        tenant = Tenant.objects.create(slug="pre-0007", name="pre 0007")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_auditwebhook (tenant_id, url, secret, is_active, created_at, next_sequence,"
                " lease_owner) VALUES (%s, 'https://hooks.example.com/', 'plain-old-secret', %s, %s, 1, '')",
                [tenant.pk, True, timezone.now()],
            )
        MigrationExecutor(connection).migrate([latest])
        hook = AuditWebhook.objects.get(tenant=tenant)
        stored = _stored_secret(hook.pk)
        assert stored.startswith("fernet:") and "plain-old-secret" not in stored
        assert hook.secret == "plain-old-secret"
        MigrationExecutor(connection).migrate([before])
        assert _stored_secret(hook.pk) == "plain-old-secret"
    finally:
        # Every app's latest, not only accounts': migrating back unapplied whatever depends on it.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        # The tables it created again (a passkey's, an invitation's) are new to the runtime role:
        # grant again, as a deployment runs setup_rls after every migrate.
        rls.prepare()
