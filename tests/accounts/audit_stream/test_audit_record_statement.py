"""An audit event and its outbox rows are written by one statement on PostgreSQL (outbox.record).

What the statement must keep from the ORM's way (`event.save()` then `enqueue`): the same rows,
one delivery per *active* endpoint of the event's tenant numbered from that endpoint's next
sequence, nothing for the platform's own events, and the endpoint's row locked until the writer
commits, so a second writer of the tenant waits and numbers after it.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.audit_stream.outbox import enqueue
from accounts.constants import AuditAction
from accounts.models import AuditEvent
from accounts.services import audit_record
from accounts.tenancy import enter_tenant, request_scope
from tests.races import race

pytestmark = pytest.mark.django_db

needs_pg = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the one-statement path")


def _hooks(tenant) -> tuple[AuditWebhook, AuditWebhook, AuditWebhook]:
    first = AuditWebhook.objects.create(tenant=tenant, url="https://example.com/a", secret="s")
    second = AuditWebhook.objects.create(tenant=tenant, url="https://example.com/b", secret="s")
    AuditWebhook.objects.filter(pk=second.pk).update(next_sequence=41)
    off = AuditWebhook.objects.create(
        tenant=tenant, url="https://example.com/off", secret="s", is_active=False
    )
    return first, second, off


def _event(world, i: int) -> AuditEvent:
    return AuditEvent(
        actor=world.owner_a,
        actor_label="owner",
        tenant=world.acme,
        tenant_label=world.acme.slug,
        action=AuditAction.TOKEN_REVOKED,
        target_type="scopes.AccessToken",
        target_id=str(i),
        target_label="a token",
        before={"kind": "access", "scope": "photos.read", "nested": {"list": [1, "two", None]}},
        after=None,
    )


@needs_pg
def test_an_event_and_its_deliveries_are_one_statement(world):
    first, second, off = _hooks(world.acme)
    with request_scope(), transaction.atomic():
        enter_tenant(world.acme.pk)  # as the request does before any service runs
        with CaptureQueriesContext(connection) as queries:
            event = audit_record(
                actor=world.owner_a, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme
            )
    assert len(queries) == 1, [q["sql"][:120] for q in queries]
    assert event.pk and not event._state.adding
    assert AuditEvent.objects.get(pk=event.pk).created_at == event.created_at
    delivered = AuditDelivery.objects.filter(event=event).order_by("webhook_id")
    assert [(d.webhook_id, d.sequence) for d in delivered] == [(first.pk, 1), (second.pk, 41)]
    steps = dict(AuditWebhook.objects.values_list("pk", "next_sequence"))
    assert steps == {first.pk: 2, second.pk: 42, off.pk: 1}  # the inactive endpoint is left alone


def test_the_statement_writes_what_the_orm_writes(world):
    """Every column of the event and of its deliveries, against `save()` and `enqueue` (the
    SQLite path, and PostgreSQL's before the statement)."""
    _hooks(world.acme)
    through_orm = _event(world, 1)
    through_orm.save()
    enqueue(through_orm)
    recorded = _event(world, 1)
    from accounts.audit_stream.outbox import record

    assert record(recorded) == 2
    ignored = {"id", "created_at"}

    def row(event: AuditEvent) -> dict:
        return {
            k: v for k, v in model_to_dict(AuditEvent.objects.get(pk=event.pk)).items() if k not in ignored
        }

    assert row(recorded) == row(through_orm)
    with connection.cursor() as cursor:  # SQL NULL, not JSON null; the time the instance was given
        cursor.execute(
            "SELECT id, after IS NULL, before IS NULL FROM accounts_auditevent WHERE id IN (%s, %s)",
            [recorded.pk, through_orm.pk],
        )
        stored = {pk: rest for pk, *rest in cursor.fetchall()}
    assert stored[recorded.pk] == stored[through_orm.pk] == [True, False]
    assert AuditEvent.objects.get(pk=recorded.pk).created_at == recorded.created_at

    def deliveries(event: AuditEvent) -> list[dict]:
        return [
            {k: v for k, v in model_to_dict(d).items() if k not in {"id", "event", "sequence", "created_at"}}
            for d in AuditDelivery.objects.filter(event=event).order_by("webhook_id")
        ]

    assert deliveries(recorded) == deliveries(through_orm)
    assert len(deliveries(recorded)) == 2
    numbers = {
        (d.webhook_id, d.event_id): d.sequence for d in AuditDelivery.objects.filter(tenant=world.acme)
    }
    assert sorted(numbers.values()) == [1, 2, 41, 42]  # each endpoint numbered on from the last


def test_the_platforms_own_events_queue_nothing(world):
    _hooks(world.acme)
    event = audit_record(actor=None, action=AuditAction.SCOPE_CHANGED, target=world.acme)
    assert event.pk and event.tenant_id is None
    assert not AuditDelivery.objects.exists()
    assert sorted(AuditWebhook.objects.values_list("next_sequence", flat=True)) == [1, 1, 41]


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_second_writer_of_the_tenant_waits_and_numbers_after_the_first(world):
    """The endpoint's row is locked from the first writer's statement to its commit: the second
    waits (pg_blocking_pids says for whom) and gets the next number, in commit order."""
    hook = AuditWebhook.objects.create(tenant=world.acme, url="https://example.com/a", secret="s")
    events: dict[str, int] = {}
    errors = race(
        lambda: events.update(first=_record(world, "first")),
        lambda _held: None,
        lambda: events.update(second=_record(world, "second")),
    )
    assert not errors, errors
    numbers = dict(AuditDelivery.objects.filter(webhook=hook).values_list("event_id", "sequence"))
    assert numbers == {events["first"]: 1, events["second"]: 2}
    assert AuditWebhook.objects.get(pk=hook.pk).next_sequence == 3


def _record(world, name: str) -> int:
    return audit_record(
        actor=None, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme, after={"who": name}
    ).pk


def test_a_save_receiver_is_sent_its_signal(world):
    """The statement sends no model signals: while a receiver listens, the ORM writes the event."""
    _hooks(world.acme)
    seen: list[int] = []

    def receiver(sender, instance, created, **kwargs) -> None:
        seen.append(instance.pk)

    post_save.connect(receiver, sender=AuditEvent)
    try:
        event = audit_record(
            actor=None, action=AuditAction.ROLE_CHANGED, target=world.acme, tenant=world.acme
        )
    finally:
        post_save.disconnect(receiver, sender=AuditEvent)
    assert seen == [event.pk]
    assert AuditDelivery.objects.filter(event=event).count() == 2
