"""The delivery worker: drains the outbox, one endpoint at a time, in sequence order, signed.

Guarantees and how:
- at least once: a delivery is marked delivered only after the receiver answered 2xx; a worker
  that dies mid-batch leaves it pending, and its lease on the endpoint expires;
- in order per endpoint (so per tenant): one worker holds an endpoint's lease at a time (claimed
  with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL and a conditional UPDATE on both
  databases), renews it before every send, and sends in sequence order; after a failure it stops
  and the endpoint waits (`retry_at`, exponential backoff) with everything after it;
- signed: `X-Audit-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with
  `X-Audit-Timestamp` (Unix seconds); receivers reject old timestamps and dedupe by `X-Audit-Event`.

Every send goes through `accounts.outbound` (no internal addresses, checked at delivery as well as
on save, pinned against DNS rebinding; no redirects: a 3xx is a failure). The HTTP timeout is
shorter than the lease, so a lease cannot expire during a send it covers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts import outbound, tenancy
from accounts.audit_stream.events import event_json
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.models import Tenant
from accounts.sealed import UnreadableSecret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How the worker paces itself (`manage.py deliver_audit_events` options)."""

    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0
    batch: int = 100
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for one delivery."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def backoff(attempts: int, settings: Settings) -> timedelta:
    """How long an endpoint waits after its `attempts`-th failure in a row: doubling, capped.

    The exponent is capped too: an endpoint failing for weeks reaches 2**1024, which as a float
    would overflow and stop the worker for every tenant.
    """
    exponent = min(max(attempts - 1, 0), 40)
    return timedelta(seconds=min(settings.backoff_base_seconds * 2**exponent, settings.backoff_max_seconds))


def _claimable(now: datetime) -> Q:
    return (
        Q(is_active=True)
        & (Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        & (Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    )


def claim(owner: str, settings: Settings) -> AuditWebhook | None:
    """Take the lease of one endpoint with pending deliveries; None when there is nothing to do.

    Both tables are behind row-level security. To find due endpoints the claim enters every
    tenant, listed explicitly from the tenant table (as a superuser's admin request does: there is
    no "all tenants" value); it reads and leases, and everything after it runs in the claimed
    endpoint's tenant alone (`deliver`). One statement enters, however many tenants there are.
    """
    now = timezone.now()
    pending = AuditDelivery.objects.filter(webhook=OuterRef("pk"), delivered_at__isnull=True)
    with transaction.atomic():
        tenancy.enter(tenant_ids=Tenant.objects.values_list("pk", flat=True))
        webhook = (
            AuditWebhook.objects.select_for_update(skip_locked=True)
            .filter(_claimable(now), Exists(pending))
            .order_by("pk")
            .first()
        )
        if webhook is None:
            return None
        # Conditional: on SQLite (no row locks) two workers may read the same row; one UPDATE wins.
        won = AuditWebhook.objects.filter(_claimable(now), pk=webhook.pk).update(
            leased_until=now + timedelta(seconds=settings.lease_seconds), lease_owner=owner
        )
    return webhook if won else None


def _renew(webhook: AuditWebhook, owner: str, settings: Settings) -> bool:
    now = timezone.now()
    with tenancy.tenant_scope(webhook.tenant_id):
        return bool(
            AuditWebhook.objects.filter(pk=webhook.pk, lease_owner=owner, leased_until__gt=now).update(
                leased_until=now + timedelta(seconds=settings.lease_seconds)
            )
        )


def _release(webhook: AuditWebhook, owner: str, **extra: object) -> None:
    with tenancy.tenant_scope(webhook.tenant_id):
        AuditWebhook.objects.filter(pk=webhook.pk, lease_owner=owner).update(
            leased_until=None, lease_owner="", **extra
        )


def send(webhook: AuditWebhook, delivery: AuditDelivery, settings: Settings) -> tuple[int | None, str]:
    """POST one event through the outbound guard; the receiver's status (None: no answer) and an
    error text ("" on 2xx) that says what failed, never what the receiver answered."""
    if isinstance(webhook.secret, UnreadableSecret):
        return None, "refused: the signing secret cannot be unsealed with the configured AUDIT_SECRET_KEY"
    body = json.dumps({**event_json(delivery.event), "sequence": delivery.sequence}, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    try:
        response = outbound.post(
            webhook.url,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "granular-photos-audit/1",
                "X-Audit-Event": str(delivery.event_id),
                "X-Audit-Sequence": str(delivery.sequence),
                "X-Audit-Timestamp": timestamp,
                "X-Audit-Signature": sign(webhook.secret, timestamp, body),
            },
            timeout=settings.timeout_seconds,
            max_response_bytes=0,  # only the status counts; the body is never read or logged
        )
    except outbound.OutboundError as error:
        return None, str(error)[:300]
    if 200 <= response.status < 300:
        return response.status, ""
    if 300 <= response.status < 400:
        return response.status, f"HTTP {response.status} (redirects are not followed)"
    return response.status, f"HTTP {response.status}"


def deliver(webhook: AuditWebhook, owner: str, settings: Settings) -> int:
    """Send the endpoint's pending deliveries in order until done, a failure, or the lease is lost.

    Each read and write is its own short transaction in the endpoint's tenant (`tenant_scope`):
    none is open while a receiver is being waited for, and a delivery marked done stays done if
    the worker dies a moment later.
    """
    sent = 0
    with tenancy.tenant_scope(webhook.tenant_id):
        pending = list(
            AuditDelivery.objects.filter(webhook=webhook, delivered_at__isnull=True)
            .select_related("event")
            .order_by("sequence")[: settings.batch]
        )
    for delivery in pending:
        if not _renew(webhook, owner, settings):
            return sent  # another worker owns it now: stop, it resumes from the first pending one
        status, error = send(webhook, delivery, settings)
        now = timezone.now()
        ok = status is not None and 200 <= status < 300
        with tenancy.tenant_scope(webhook.tenant_id):
            AuditDelivery.objects.filter(pk=delivery.pk).update(
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_status=status,
                last_error=error,
                delivered_at=now if ok else None,
            )
        if not ok:
            log.warning("audit webhook %s: delivery #%s failed: %s", webhook.pk, delivery.sequence, error)
            _release(webhook, owner, retry_at=now + backoff(delivery.attempts + 1, settings))
            return sent
        sent += 1
    _release(webhook, owner, retry_at=None)
    return sent


def run_once(owner: str, settings: Settings) -> int:
    """Claim and drain endpoints until none is claimable; how many events were delivered."""
    total = 0
    while (webhook := claim(owner, settings)) is not None:
        total += deliver(webhook, owner, settings)
    return total
