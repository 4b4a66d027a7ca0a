"""The Django admin for the tenant app policy and access requests: staff see only their tenants.

Forms parse; the services decide (the `tenant.admin` right, escalation, deciding once) and audit.
Imported by `scopes.admin`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from accounts.admin.base import StaffScopedAdmin, allowed
from accounts.models import Role, signed_in
from scopes.models import Scope
from scopes.tenant_policy import services
from scopes.tenant_policy.models import (
    AccessRequest,
    BlockedClientDomain,
    RequestStatus,
    TenantApp,
    TenantAppPolicy,
)


class AllTenantsAdmin(StaffScopedAdmin):
    """Starts from the model's `all_tenants` manager; `staff_scope` then narrows to the staff's tenants."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = self.model.all_tenants.get_queryset()
        ordering = self.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return self.staff_scope(signed_in(request.user), queryset)


class ServiceSavedAdmin(AllTenantsAdmin):
    """Saves through a service: its refusal is the form's error, and nothing is written."""

    def call_service(self, request: HttpRequest, obj: Any, form: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        admin_self = self

        class ServiceForm(form_class):  # type: ignore[misc, valid-type]
            def validate_unique(self) -> None:
                pass  # the service updates the tenant's one row (get_or_create under a lock)

            def clean(self) -> dict[str, Any]:
                data = super().clean()
                if not self.errors:
                    try:
                        admin_self.check_service(request, self.instance, self)
                    except ValidationError as refused:
                        raise forms.ValidationError(refused.messages) from refused
                return data

        return ServiceForm

    def check_service(self, request: HttpRequest, obj: Any, form: Any) -> None:
        """Raise the service's refusal before saving (the service runs again, under its locks)."""
        # On an add page the instance has no tenant yet (the form fills it after clean()).
        tenant = form.cleaned_data.get("tenant") or obj.tenant
        services.check_tenant_admin(actor=signed_in(request.user), tenant=tenant)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.call_service(request, obj, form)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the service wrote the many-to-many fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an app is set to pending or approved, a policy to "any app": audited changes


@admin.register(TenantAppPolicy)
class TenantAppPolicyAdmin(ServiceSavedAdmin):
    list_display = ("tenant", "mode", "dynamic_clients", "second_factor", "updated_at")
    fields = ("tenant", "mode", "dynamic_clients", "second_factor")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("tenant",) if obj is not None else ()

    def call_service(self, request: HttpRequest, obj: TenantAppPolicy, form: Any) -> None:
        actor = signed_in(request.user)
        saved = services.app_policy_set(
            actor=actor, tenant=obj.tenant, mode=obj.mode, dynamic_clients=obj.dynamic_clients
        )
        services.second_factor_rule_set(actor=actor, tenant=obj.tenant, rule=obj.second_factor)
        obj.pk = saved.pk


@admin.register(TenantApp)
class TenantAppAdmin(ServiceSavedAdmin):
    list_display = ("application", "tenant", "status", "capped", "updated_at")
    list_filter = ("status",)
    fields = ("tenant", "application", "status", "capped", "cap", "note")
    filter_horizontal = ("cap",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("tenant", "application") if obj is not None else ()

    def call_service(self, request: HttpRequest, obj: TenantApp, form: Any) -> None:
        cap = [s.name for s in form.cleaned_data.get("cap") or []] if obj.capped else None
        saved = services.tenant_app_set(
            actor=signed_in(request.user),
            tenant=obj.tenant,
            application=obj.application,
            status=obj.status,
            cap=cap,
            note=obj.note,
        )
        obj.pk = saved.pk


@admin.register(BlockedClientDomain)
class BlockedClientDomainAdmin(ServiceSavedAdmin):
    """A tenant's blocked client-ID domains: self-registered clients on them are refused there.

    Added and lifted through the services (the `tenant.admin` right, audited; the standing reads
    the block, so live tokens of such clients are refused at their next request). A block is never
    edited: lift it and add another.
    """

    list_display = ("domain", "tenant", "note", "created_at")
    list_filter = ("tenant",)
    search_fields = ("domain",)
    fields = ("tenant", "domain", "note")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("tenant", "domain", "note", "created_at") if obj is not None else ()

    def check_service(self, request: HttpRequest, obj: Any, form: Any) -> None:
        super().check_service(request, obj, form)
        services.client_domain_clean(form.cleaned_data.get("domain") or "")

    def call_service(self, request: HttpRequest, obj: BlockedClientDomain, form: Any) -> None:
        saved = services.client_domain_block(
            actor=signed_in(request.user), tenant=obj.tenant, domain=obj.domain, note=obj.note
        )
        obj.pk = saved.pk

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # nothing to change: lift the block and add another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not admin.ModelAdmin.has_delete_permission(self, request, obj):
            return False
        return obj is None or allowed(
            services.check_tenant_admin, actor=signed_in(request.user), tenant=obj.tenant
        )

    def delete_model(self, request: HttpRequest, obj: BlockedClientDomain) -> None:
        services.client_domain_unblock(actor=signed_in(request.user), tenant=obj.tenant, domain=obj.domain)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Each block through the service: one the actor may not lift is left, and said so."""
        actor = signed_in(request.user)
        for block in queryset.select_related("tenant"):  # the service needs each block's tenant
            try:
                services.client_domain_unblock(actor=actor, tenant=block.tenant, domain=block.domain)
            except ValidationError as refused:
                self.message_user(request, f"{block.domain}: {' '.join(refused.messages)}", level="error")


class DecideForm(forms.ModelForm):
    """A pending request's decision: approve (with what to apply) or refuse, with a note."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")])
    decision_note = forms.CharField(required=False, max_length=1000, widget=forms.Textarea, label="Note")
    capped = forms.BooleanField(required=False, label="App request: cap the app to the scopes below")
    cap = forms.ModelMultipleChoiceField(Scope.objects.all(), required=False)
    role = forms.ModelChoiceField(
        Role.objects.all(), required=False, help_text="Scope request: give this role"
    )
    reach = forms.ChoiceField(
        choices=[("", "—"), ("own", "own"), ("tenant", "tenant")],
        required=False,
        help_text="Scope request: or add the scopes to the requester's role with this reach",
    )

    class Meta:
        model = AccessRequest
        fields: list[str] = []


@admin.register(AccessRequest)
class AccessRequestAdmin(AllTenantsAdmin):
    list_display = ("id", "tenant", "requester", "kind", "application", "status", "created_at", "decided_by")
    list_filter = ("status", "kind")
    form = DecideForm
    readonly_fields = (
        "tenant",
        "requester",
        "kind",
        "application",
        "requested_scopes",
        "message",
        "status",
        "decided_by",
        "decided_at",
        "note",
        "outcome",
    )

    @admin.display(description="scopes")
    def requested_scopes(self, obj: AccessRequest) -> str:
        return " ".join(s.name for s in obj.scopes.all())

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(str(name) for name in self.readonly_fields)
        if obj is not None and obj.status == RequestStatus.PENDING:
            fields += ("decision", "decision_note", "capped", "cap", "role", "reach")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members ask on their pages; the admin decides

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        admin_self = self

        class Decide(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                data = super().clean()
                if obj is not None and obj.status == RequestStatus.PENDING and not self.errors:
                    try:
                        admin_self.decide(request, obj, data, dry_run=True)
                    except ValidationError as refused:
                        raise forms.ValidationError(refused.messages) from refused
                return data

        return Decide

    def decide(
        self, request: HttpRequest, obj: AccessRequest, data: dict[str, Any], *, dry_run: bool = False
    ) -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                services.access_request_decide(
                    actor=signed_in(request.user),
                    tenant=obj.tenant,
                    request_id=obj.pk,
                    approve=data.get("decision") == "approve",
                    note=data.get("decision_note") or "",
                    cap=[s.name for s in data.get("cap") or []] if data.get("capped") else None,
                    role=data.get("role"),
                    grant_reach=data.get("reach") or None,
                    requests_url=request.build_absolute_uri(reverse("account-requests")),
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass

    def save_model(self, request: HttpRequest, obj: AccessRequest, form: Any, change: bool) -> None:
        if obj.status == RequestStatus.PENDING and "decision" in form.cleaned_data:
            self.decide(request, obj, form.cleaned_data)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass


class _DryRun(Exception):
    """Rolls back a trial decision made to show the service's refusal as a form error."""
