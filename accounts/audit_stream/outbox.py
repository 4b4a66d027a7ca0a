"""Queue an audit event for its tenant's webhooks, in the transaction that writes the event."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.models import AuditEvent
from accounts.tenancy import writing_in


def enqueue(event: AuditEvent) -> int:
    """One delivery per active endpoint of the event's tenant; returns how many were queued.

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
