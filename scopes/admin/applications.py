"""OAuth client apps in the admin: superusers write them; staff see the apps usable in their tenants.

Registered by django-oauth-toolkit (settings: OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"]), once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin

from accounts.admin.base import AuditedAdmin, StaffScopedAdmin, SuperuserWritesOnly
from accounts.admin.preview import PreviewBeforeSave
from accounts.constants import AuditAction
from accounts.models import Tenant, User, signed_in
from scopes.access.selectors import admin_applications
from scopes.models import Application, ApplicationScope
from scopes.services import AllowedScope, application_scopes_set
from scopes.usage.admin_preview import APPLICATION_JUDGE


class ApplicationScopeInline(admin.TabularInline):
    """The scopes an app may ask for, with the app's reason for each (written by `application_scopes_set`)."""

    model = ApplicationScope
    extra = 0
    autocomplete_fields = ["scope"]


class ApplicationAdmin(
    PreviewBeforeSave, SuperuserWritesOnly, StaffScopedAdmin, AuditedAdmin, DotApplicationAdmin
):
    rights_judge = APPLICATION_JUDGE
    audit_actions = (
        AuditAction.APPLICATION_CREATED,
        AuditAction.APPLICATION_CHANGED,
        AuditAction.APPLICATION_DELETED,
    )
    list_display = [
        "name",
        "client_id",
        "client_type",
        "tenant",
        "publisher",
        "registration_source",
        "is_resource_server",
    ]
    list_filter = [
        "registration_source",
        "client_type",
        "authorization_grant_type",
        "is_resource_server",
        ("tenant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "client_id", "publisher"]
    autocomplete_fields = ["tenant"]
    inlines = [ApplicationScopeInline]

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_applications(user))

    def audit_tenant(self, obj: Any) -> Tenant | None:
        return obj.tenant

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not ApplicationScope:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # fills new/changed/deleted_objects for the history; writes nothing
        # Every row the page shows once saved; the service writes the difference and audits it.
        allowed = [
            AllowedScope(
                scope=f.cleaned_data["scope"],
                required=f.cleaned_data.get("required", False),
                reason=f.cleaned_data.get("reason", ""),
            )
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("scope")
        ]
        application_scopes_set(actor=signed_in(request.user), application=form.instance, allowed=allowed)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        # A stored secret is a hash (or, for a public client, empty): never show it. On "add" the
        # generated secret is shown once so the administrator can copy it before it is hashed.
        exclude = list(super().get_exclude(request, obj) or [])
        # Not a choice either: an app registered here always stores its secret hashed (the model's
        # default). DOT's checkbox, unticked, would keep a confidential client's secret in plain text.
        exclude += ["hash_client_secret"]
        # DOT's owning "user" means nothing here (an app belongs to the platform, or to its tenant).
        exclude += ["user"]
        if obj is not None:
            exclude += ["client_secret"]
        return exclude

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("secret_note")
        # Not a choice: the server signs every ID token the same way (scopes.models.Application).
        fields.append("id_token_signing")
        # Where the app came from (docs/security.md, "Self-registered clients"): shown, never edited.
        fields.append("origin")  # DOT already shows registration_source and cimd_expires_at read-only
        return fields

    @admin.display(description="where it came from")
    def origin(self, obj: Application | None) -> str:
        if obj is not None and obj.registration_source == Application.RegistrationSource.DCR:
            return f"registered itself by dynamic registration (RFC 7591) on {obj.created.isoformat(timespec='seconds')}"
        if obj is None or obj.registration_source != Application.RegistrationSource.CIMD:
            return "registered by an administrator"
        fetched = (
            obj.metadata_fetched_at.isoformat(timespec="seconds") if obj.metadata_fetched_at else "never"
        )
        expires = obj.cimd_expires_at.isoformat(timespec="seconds") if obj.cimd_expires_at else "-"
        return (
            f"registered itself with its client ID metadata document {obj.metadata_url or obj.client_id} "
            f"(fetched {fetched}; fetched again after {expires})"
        )

    @admin.display(description="ID token signing")
    def id_token_signing(self, obj: Application | None) -> str:
        return "RS256, by the server's signing keys (when the app is granted openid)"

    @admin.display(description="client secret")
    def secret_note(self, obj: Application) -> str:
        if obj.client_type == Application.CLIENT_PUBLIC:
            return "none: a public client authenticates with PKCE only"
        return "stored hashed; it cannot be shown. Register a new app to issue a new secret."
