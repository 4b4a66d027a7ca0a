"""Write an audit event and queue it for its tenant's webhooks, in the transaction of the change."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.db.models.signals import post_save, pre_save
from psycopg.types.numeric import Int8

from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.models import AuditEvent
from accounts.prepared import prepared_row
from accounts.tenancy import writing_in

# The delivery's columns the statement fills from the rows it writes; every other column of
# either table is the model's own value (`_values`), so a field added to a model is written too.
_FROM_STATEMENT = {"webhook_id": "queued.id", "event_id": "event.id", "sequence": "queued.sequence"}


def record(event: AuditEvent) -> int:
    """Insert `event` (unsaved) and queue one delivery per active endpoint of its tenant: `enqueue`'s
    rule, and on PostgreSQL in one statement. Returns how many deliveries were queued.

    Every audited change writes its event in its own transaction, so this is on the path of every
    service and of the revocation endpoint. Through the ORM it was three statements (the event,
    the endpoints `SELECT ... FOR UPDATE`, a delivery per endpoint plus its sequence's update) and
    about 2 ms of Python building them on the bench's machine. The statement (`_statement`) inserts
    the event, takes each active endpoint's next sequence number with an `UPDATE`, which locks the
    endpoint's row exactly as `SELECT ... FOR UPDATE` did (a second transaction of the tenant waits,
    then reads the number the first one left: PostgreSQL re-reads the row it waited for), and
    inserts the deliveries from both, as a statement the connection plans once (accounts.prepared).
    SQLite has no data-modifying `WITH`, and the statement sends no model signals: there, on a
    database other than the default one, and whenever a save receiver listens, the ORM does it.
    """
    connection = connections[router.db_for_write(AuditEvent)]
    if (
        connection.vendor != "postgresql"
        or connection.alias != DEFAULT_DB_ALIAS
        or any(
            signal.has_listeners(model)
            for signal in (pre_save, post_save)
            for model in (AuditEvent, AuditDelivery)
        )
    ):
        event.save(force_insert=True)
        return enqueue(event)
    sql = _statement(connection.alias)
    params = [*_values(event, AuditEvent, connection, skip=()), _int8(event.tenant_id)]
    # The deliveries' other columns; with no tenant no endpoint matches, and nothing is inserted.
    template = AuditDelivery(tenant_id=event.tenant_id if event.tenant_id is not None else 0)
    params += _values(template, AuditDelivery, connection, skip=_FROM_STATEMENT)
    with transaction.atomic(using=connection.alias, savepoint=False):
        if event.tenant_id is None:  # the platform's own events belong to no tenant's stream
            event_id, queued = _run(sql, params)
        else:
            # Both stream tables are behind row-level security: enter the event's tenant (free when
            # the request already did), whatever the writer had entered, so no event misses an endpoint.
            with writing_in(event.tenant_id, using=connection.alias, savepoint=False):
                event_id, queued = _run(sql, params)
    event.pk = event_id
    event._state.adding = False
    event._state.db = connection.alias
    return int(queued)


def _run(sql: str, params: list[Any]) -> tuple[int, int]:
    row = prepared_row(sql, params)  # planned once per connection (accounts.prepared)
    assert row is not None  # the event's row, always
    return int(row[0]), int(row[1])


def _fields(model: type[models.Model], skip: object = ()) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip]  # type: ignore[operator]


def _values(
    instance: models.Model, model: type[models.Model], connection: BaseDatabaseWrapper, skip: object
) -> list[Any]:
    """The values Django's insert would send for these fields (`pre_save` fills `auto_now_add`),
    ints as int8: psycopg types an int by its size, and each type is a prepared statement."""
    return [_int8(f.get_db_prep_save(f.pre_save(instance, True), connection)) for f in _fields(model, skip)]


def _int8(value: Any) -> Any:
    return Int8(value) if type(value) is int else value


@cache
def _statement(alias: str) -> str:
    """The event, the endpoints' sequence numbers and the deliveries: one statement, built once."""
    qn = connections[alias].ops.quote_name
    event_fields = _fields(AuditEvent)
    delivery_fields = _fields(AuditDelivery)
    delivery_values = [_FROM_STATEMENT.get(f.attname, "%s") for f in delivery_fields]
    webhook = AuditWebhook._meta.db_table
    # Models' tables and columns, quoted; every value is a placeholder.
    return (
        f"WITH event AS (INSERT INTO {qn(AuditEvent._meta.db_table)}"  # noqa: S608
        f" ({', '.join(qn(f.column) for f in event_fields)})"
        f" VALUES ({', '.join('%s' for _ in event_fields)}) RETURNING id),"
        f" queued AS (UPDATE {qn(webhook)} SET next_sequence = next_sequence + 1"
        " WHERE tenant_id = %s AND is_active RETURNING id, next_sequence - 1 AS sequence),"
        f" delivered AS (INSERT INTO {qn(AuditDelivery._meta.db_table)}"
        f" ({', '.join(qn(f.column) for f in delivery_fields)})"
        f" SELECT {', '.join(delivery_values)} FROM queued CROSS JOIN event RETURNING 1)"
        " SELECT event.id, (SELECT count(*) FROM delivered) FROM event"
    )


def enqueue(event: AuditEvent) -> int:
    """One delivery per active endpoint of the event's tenant (saved); returns how many were queued.

    The ORM's way, for databases without `record`'s statement (SQLite), where it is the rule.

    Each endpoint's row is locked while its next sequence number is taken, so two transactions of
    one tenant get numbers in the order they commit (the second waits for the first), and the
    worker, delivering in sequence order, can never pass an event that commits late.

    Both tables are behind row-level security: this enters the event's tenant itself (and gives
    the caller's back), whatever the writer had entered, so no event misses its endpoints.
    """
    if event.tenant_id is None:
        return 0  # the platform's own events (a global role, a scope) belong to no tenant's stream
    queued = 0
    with transaction.atomic(savepoint=False), writing_in(event.tenant_id, savepoint=False):
        # Only what is needed: loading `secret` would unseal it for nothing.
        for webhook in (
            AuditWebhook.objects.select_for_update()
            .filter(tenant_id=event.tenant_id, is_active=True)
            .only("pk", "next_sequence")
        ):
            AuditWebhook.objects.filter(pk=webhook.pk).update(next_sequence=F("next_sequence") + 1)
            AuditDelivery.objects.create(
                webhook=webhook,
                event=event,
                tenant_id=event.tenant_id,
                sequence=webhook.next_sequence,
                last_attempt_at=None,
            )
            queued += 1
    return queued
