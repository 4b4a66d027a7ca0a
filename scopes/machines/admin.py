"""Admin screens for service accounts, token policies and personal access tokens.

Every write calls a service (`scopes.machines.services`), which holds the rules: a staff user
manages only their own tenants and never makes or touches a service account stronger than
themselves. A new or rotated client secret is shown once, on the page that answers the action,
and is stored nowhere but as a hash.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.admin.base import ReadOnlyAdmin, StaffScopedAdmin
from accounts.models import Role, signed_in
from accounts.selectors import admin_roles, admin_tenants
from scopes.machines.models import PersonalAccessToken, ServiceAccount, TokenPolicy
from scopes.machines.selectors import NOT_FOR_MACHINE_TOKENS, expires_now, with_policy_max_days
from scopes.machines.services import (
    personal_token_revoke,
    service_account_create,
    service_account_delete,
    service_account_rotate_secret,
    service_account_set_active,
    token_policy_set,
)
from scopes.models import Scope


class ServiceAccountAddForm(forms.ModelForm):
    """A name, a tenant, the account's role, and the scopes its app may ask for."""

    role = forms.ModelChoiceField(
        queryset=Role.objects.none(), help_text="Its role in the tenant: never stronger than yours."
    )
    scopes = forms.ModelMultipleChoiceField(
        queryset=Scope.objects.exclude(name__in=NOT_FOR_MACHINE_TOKENS),  # what its tokens can carry
        widget=forms.CheckboxSelectMultiple,
        help_text="What its tokens may ask for; capped by the role at every request.",
    )

    class Meta:
        model = ServiceAccount
        fields = ["tenant", "name"]


def _secret_page(request: HttpRequest, account: ServiceAccount, secret: str, what: str) -> HttpResponse:
    return TemplateResponse(
        request,
        "admin/scopes/serviceaccount/secret.html",
        {
            "title": f"{what}: {account.name}",
            "account": account,
            "client_id": account.application.client_id,
            "secret": secret,
            "opts": ServiceAccount._meta,
        },
    )


@admin.register(ServiceAccount)
class ServiceAccountAdmin(StaffScopedAdmin):
    list_display = ["name", "tenant", "role_name", "client_id", "active", "created_by", "created_at"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "application__client_id"]
    actions = ["disable", "enable", "rotate_secret"]
    readonly_fields = [
        "tenant",
        "name",
        "user",
        "application",
        "created_by",
        "created_at",
        "previous_secret_expires",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServiceAccount]:
        return super().get_queryset(request).select_related("tenant", "user", "application", "created_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant", "name", "role", "scopes"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = ServiceAccountAddForm
        kwargs["fields"] = ["tenant", "name"]
        form = super().get_form(request, obj, change, **kwargs)
        user = signed_in(request.user)
        cast(forms.ModelChoiceField, form.base_fields["tenant"]).queryset = admin_tenants(user)
        cast(forms.ModelChoiceField, form.base_fields["role"]).queryset = admin_roles(user)
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(description="role")
    def role_name(self, obj: ServiceAccount) -> str:
        membership = obj.user.memberships.filter(tenant_id=obj.tenant_id).select_related("role").first()
        return membership.role.name if membership else "—"

    @admin.display(description="client id")
    def client_id(self, obj: ServiceAccount) -> str:
        return obj.application.client_id

    @admin.display(boolean=True)
    def active(self, obj: ServiceAccount) -> bool:
        return obj.user.is_active

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The form is parsed here and the service does the writing; a refusal is shown on the form."""
        if request.method != "POST":
            return super().add_view(request, form_url, extra_context)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request)(request.POST)
        if form.is_valid():
            try:
                account, secret = service_account_create(
                    actor=signed_in(request.user),
                    tenant=form.cleaned_data["tenant"],
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    scopes=[s.name for s in form.cleaned_data["scopes"]],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return _secret_page(request, account, secret, "Service account created")
        fieldsets: Any = self.get_fieldsets(request)
        admin_form = helpers.AdminForm(form, list(fieldsets), {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Add service account",
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    def delete_model(self, request: HttpRequest, obj: ServiceAccount) -> None:
        service_account_delete(actor=signed_in(request.user), account=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> None:
        for account in queryset:
            service_account_delete(actor=signed_in(request.user), account=account)

    def _each(self, request: HttpRequest, queryset: QuerySet[ServiceAccount], act: Any, done: str) -> None:
        count = 0
        for account in queryset:
            try:
                act(account)
                count += 1
            except ValidationError as error:
                self.message_user(request, f"{account.name}: {' '.join(error.messages)}", messages.ERROR)
        if count:
            self.message_user(request, f"{done} {count} service account(s).")

    @admin.action(description="Disable (its tokens stop at their next request)", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> None:
        actor = signed_in(request.user)
        self._each(
            request,
            queryset,
            lambda a: service_account_set_active(actor=actor, account=a, active=False),
            "Disabled",
        )

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> None:
        actor = signed_in(request.user)
        self._each(
            request,
            queryset,
            lambda a: service_account_set_active(actor=actor, account=a, active=True),
            "Enabled",
        )

    @admin.action(
        description="Rotate the client secret (the old one keeps working for the overlap)",
        permissions=["change"],
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[ServiceAccount]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Rotate one service account at a time.", messages.ERROR)
            return None
        account = queryset.get()
        try:
            secret = service_account_rotate_secret(actor=signed_in(request.user), account=account)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return None
        account.refresh_from_db()
        return _secret_page(request, account, secret, "Client secret rotated")


@admin.register(TokenPolicy)
class TokenPolicyAdmin(StaffScopedAdmin):
    list_display = ["tenant", "personal_tokens", "max_days"]
    fields = ["tenant", "personal_tokens", "max_days"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["tenant"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: TokenPolicy, form: Any, change: bool) -> None:
        saved = token_policy_set(
            actor=signed_in(request.user),
            tenant=obj.tenant,
            personal_tokens=obj.personal_tokens,
            max_days=obj.max_days,
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set "allowed" instead: every change goes through the service, audited


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(StaffScopedAdmin, ReadOnlyAdmin):
    list_display = ["name", "hint", "user", "tenant", "scope", "expires", "created_at", "last_used_at"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PersonalAccessToken]:
        return with_policy_max_days(super().get_queryset(request).select_related("user", "tenant"))

    @admin.display(description="scope")
    def scope(self, obj: PersonalAccessToken) -> str:
        return obj.access_token.scope

    @admin.display(description="expires")
    def expires(self, obj: PersonalAccessToken) -> Any:
        return expires_now(obj)  # under the tenant's current maximum, as the API applies it

    @admin.action(description="Revoke the selected tokens", permissions=["view"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PersonalAccessToken]) -> None:
        for personal in queryset:
            personal_token_revoke(actor=signed_in(request.user), personal=personal)
        self.message_user(request, "Revoked.")
