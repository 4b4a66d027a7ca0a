"""Audit webhooks: the outbox is written with the event, deliveries are signed, in order, retried."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import transaction

from accounts.audit_stream.delivery import Settings, run_once
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.constants import AuditAction
from accounts.models import AuditEvent
from accounts.services import audit_record
from tests.accounts.audit_stream.receiver import Receiver

pytestmark = pytest.mark.django_db

FAST = Settings(lease_seconds=5, timeout_seconds=2, backoff_base_seconds=0.0)


@pytest.fixture
def receiver(settings) -> Iterator[tuple[Receiver, str]]:
    # A local plain-HTTP receiver: named to the outbound guard, as an operator would name theirs.
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    running = Receiver()
    base = running.start()
    yield running, base
    running.stop()


def _record(tenant, i: int) -> AuditEvent:
    return audit_record(
        actor=None, action=AuditAction.ROLE_CHANGED, target=tenant, tenant=tenant, after={"i": i}
    )


def test_the_outbox_row_commits_or_vanishes_with_its_event(world):
    hook = AuditWebhook.objects.create(tenant=world.acme, url="https://example.com/h", secret="s")
    AuditWebhook.objects.create(tenant=world.acme, url="https://example.com/off", secret="s", is_active=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(world.acme, 0)
        assert AuditDelivery.objects.count() == 1
        raise RuntimeError
    assert AuditEvent.objects.count() == AuditDelivery.objects.count() == 0
    event = _record(world.acme, 1)
    _record(world.globex, 2)  # globex has no endpoint
    audit_record(actor=None, action=AuditAction.SCOPE_CHANGED, target=world.acme)  # the platform's
    assert list(AuditDelivery.objects.values_list("webhook", "event", "sequence")) == [(hook.pk, event.pk, 1)]


def test_signed_in_order_per_tenant_and_marked_delivered(world, receiver):
    running, base = receiver
    for slug, tenant in (("acme", world.acme), ("globex", world.globex)):
        AuditWebhook.objects.create(tenant=tenant, url=f"{base}/{slug}", secret=f"secret-{slug}")
    events = {"acme": [], "globex": []}
    for i in range(4):
        events["acme"].append(_record(world.acme, i).pk)
        events["globex"].append(_record(world.globex, i).pk)
    assert run_once("test", FAST) == 8
    for slug in ("acme", "globex"):
        got = running.at(f"/{slug}")
        assert [r.event["id"] for r in got] == events[slug]
        assert [r.event["sequence"] for r in got] == [1, 2, 3, 4]
        assert all(r.signed_by(f"secret-{slug}") for r in got)
        assert not any(r.signed_by("secret-other") for r in got)
        assert got[0].headers["X-Audit-Event"] == str(events[slug][0])
    assert not AuditDelivery.objects.filter(delivered_at__isnull=True).exists()
    assert run_once("test", FAST) == 0  # nothing is sent twice


def test_a_failure_holds_back_what_follows_then_retries_in_order(world, receiver):
    running, base = receiver
    hook = AuditWebhook.objects.create(tenant=world.acme, url=f"{base}/acme", secret="s")
    ids = [_record(world.acme, i).pk for i in range(3)]
    running.fail["/acme"] = 1
    retrying = Settings(lease_seconds=5, timeout_seconds=2, backoff_base_seconds=0.3)
    assert run_once("test", retrying) == 0
    hook.refresh_from_db()
    assert hook.retry_at is not None and hook.lease_owner == ""
    first = AuditDelivery.objects.get(sequence=1)
    assert first.attempts == 1 and first.last_status == 500 and first.delivered_at is None
    assert len(running.at("/acme")) == 1  # nothing after the failed one was sent
    assert run_once("test", retrying) == 0  # backing off: nothing is due
    time.sleep(0.35)
    assert run_once("test", retrying) == 3
    assert [r.event["id"] for r in running.at("/acme")] == [ids[0], *ids]


def test_the_webhook_secret_never_reaches_the_audit_log(world, admin_client):
    response = admin_client.post(
        "/admin/accounts/auditwebhook/add/",
        {
            "tenant": world.acme.pk,
            "url": "https://example.com/hook",
            "secret": "very-secret-value",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_CREATED)
    assert "very-secret-value" not in str(event.after)
    assert event.tenant == world.acme


def test_only_superusers_see_webhooks(world, browser_of):
    world.owner_a.is_staff = True
    world.owner_a.save()
    assert browser_of(world.owner_a).get("/admin/accounts/auditwebhook/").status_code == 403
