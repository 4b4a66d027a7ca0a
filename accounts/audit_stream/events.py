"""One audit event as machines read it: the audit API and the webhooks send the same JSON."""

from __future__ import annotations

from typing import Any

from accounts.models import AuditEvent


def event_json(event: AuditEvent) -> dict[str, Any]:
    """The event's public form (no secrets: the audit log never holds any, `accounts.admin.snapshot`)."""
    return {
        "id": event.pk,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "action": event.action,
        "tenant": event.tenant_label,
        "actor": event.actor_label or None,
        "target": {"type": event.target_type, "id": event.target_id, "label": event.target_label},
        "before": event.before,
        "after": event.after,
    }
