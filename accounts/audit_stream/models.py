"""Webhook endpoints for a tenant's audit events, and the outbox of their deliveries."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from accounts import outbound
from accounts.querysets import TenantKeyed
from accounts.sealed import SealedCharField


class AuditWebhook(TenantKeyed):
    """An endpoint that receives every audit event of one tenant, in order, signed with `secret`.

    A tenant's rows, behind row-level security like every tenant table (migration 0007): the
    delivery worker enters each endpoint's tenant (accounts.audit_stream.delivery).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="audit_webhooks")
    url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text=(
            "Receives a signed POST per audit event. https only; never a loopback, private or "
            "link-local address (OUTBOUND_ALLOWED_NETWORKS names exceptions)."
        ),
    )
    # Sealed at rest with AUDIT_SECRET_KEY (accounts.sealed): the column holds ciphertext, the
    # attribute the secret. The admin never shows it back (accounts.admin.audit_stream).
    secret = SealedCharField(
        max_length=500,
        help_text="Shared with the receiver, which checks X-Audit-Signature (HMAC-SHA256) with it.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive: new events are not queued for it; queued ones wait."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The sequence number the next event gets: taken under this row's lock, in the event's own
    # transaction, so numbers follow commit order and the worker never skips a late commit.
    next_sequence = models.PositiveBigIntegerField(default=1, editable=False)
    # A worker delivers to one endpoint at a time (order), holding this lease while it does.
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=100, blank=True, editable=False)
    # After a failure nothing is sent to this endpoint before this time (backoff; keeps order).
    retry_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(TenantKeyed.Meta):
        indexes = [models.Index(fields=["tenant", "is_active"], name="auditwebhook_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}: {self.url}"

    def clean(self) -> None:
        """Refuse an endpoint the delivery worker would refuse (accounts.outbound): say so on save."""
        super().clean()
        if self.url:
            try:
                outbound.check_url(self.url)
            except outbound.OutboundRefused as refused:
                raise ValidationError({"url": str(refused)}) from None


class AuditDelivery(TenantKeyed):
    """One audit event for one endpoint: queued with the event (the outbox), then its delivery log."""

    webhook = models.ForeignKey(AuditWebhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("accounts.AuditEvent", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta(TenantKeyed.Meta):
        verbose_name_plural = "audit deliveries"
        ordering = ["webhook_id", "sequence"]
        constraints = [
            *TenantKeyed.Meta.constraints,
            models.UniqueConstraint(fields=["webhook", "sequence"], name="auditdelivery_unique_sequence"),
        ]
        indexes = [
            models.Index(
                fields=["webhook", "sequence"],
                condition=models.Q(delivered_at__isnull=True),
                name="auditdelivery_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event.action} -> {self.webhook}"
