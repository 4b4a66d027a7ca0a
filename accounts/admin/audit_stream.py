"""Admin: register a tenant's webhook endpoints (superusers) and read the delivery log."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin.base import AuditedAdmin, ReadOnlyAdmin
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.constants import AuditAction
from accounts.sealed import hint


class SuperusersOnly:
    """Endpoints carry their secret: only the platform's superusers see or touch them."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class AuditWebhookForm(forms.ModelForm):
    """The secret is typed (or generated) when an endpoint is added and never shown back after.

    On change the field starts empty and says only the stored secret's length and last four
    characters (`accounts.sealed.hint`); left empty it keeps the stored one, typed it replaces it.
    """

    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 60}),
        help_text="Shared with the receiver, which checks X-Audit-Signature (HMAC-SHA256) with it.",
    )

    class Meta:
        model = AuditWebhook
        fields = ["tenant", "url", "secret", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["secret"] = ""  # never the stored secret, not even in the page's HTML
            self.fields["secret"].help_text = (
                f"Stored: {hint(self.instance.secret)}. Leave empty to keep it; type a new one to "
                "replace it (then give it to the receiver)."
            )

    def clean_secret(self) -> str:
        typed: str = self.cleaned_data.get("secret") or ""
        if typed:
            return typed
        if self.instance.pk:
            return self.instance.secret  # kept (sealed again as it is saved)
        raise forms.ValidationError("Give the endpoint a secret (the page suggested one).")


@admin.register(AuditWebhook)
class AuditWebhookAdmin(SuperusersOnly, AuditedAdmin):
    form = AuditWebhookForm
    audit_actions = (AuditAction.WEBHOOK_CREATED, AuditAction.WEBHOOK_CHANGED, AuditAction.WEBHOOK_DELETED)
    list_display = ["tenant", "url", "is_active", "pending", "retry_at", "created_at"]
    list_filter = ["is_active"]
    fields = [
        "tenant",
        "url",
        "secret",
        "is_active",
        "next_sequence",
        "retry_at",
        "leased_until",
        "lease_owner",
    ]
    readonly_fields = ["next_sequence", "retry_at", "leased_until", "lease_owner"]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"secret": secrets.token_urlsafe(32)}  # copy it to the receiver before saving

    @admin.display(description="pending")
    def pending(self, obj: AuditWebhook) -> int:
        return obj.deliveries.filter(delivered_at__isnull=True).count()

    @admin.action(description="Retry the selected endpoints now (end their backoff)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[AuditWebhook]) -> None:
        count = queryset.update(retry_at=None)
        self.message_user(
            request, f"{count} endpoint(s) will be retried at the worker's next poll.", messages.SUCCESS
        )


@admin.register(AuditDelivery)
class AuditDeliveryAdmin(SuperusersOnly, ReadOnlyAdmin):
    """The delivery log: one row per event and endpoint, with attempts and the receiver's last answer."""

    list_display = ["sequence", "webhook", "event", "attempts", "delivered_at", "last_status", "last_error"]
    list_filter = [("delivered_at", admin.EmptyFieldListFilter), "webhook"]
    list_select_related = ["webhook__tenant", "event"]
    readonly_fields = [f.name for f in AuditDelivery._meta.fields]
    ordering = ["-created_at", "-sequence"]
