"""Admin screens for the scope registry, role grants, client apps, consents and tokens.

Rules the screens enforce (the services enforce them too):
- only superusers change scopes, applications and global roles;
- a staff user never hands out a scope at a reach they do not hold themselves in that tenant;
- a scope still in use cannot be deleted, and the page says where it is used;
- every change is written to the audit log.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin

from accounts.admin import (
    STAFF_CHOICES,
    AuditedAdmin,
    ReadOnlyAdmin,
    StaffScopedAdmin,
    TenantMembershipInline,
    UserMembershipInline,
)
from accounts.admin import MembershipAdmin as AccountsMembershipAdmin
from accounts.admin import RoleAdmin as AccountsRoleAdmin
from accounts.admin import TenantAdmin as AccountsTenantAdmin
from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User, signed_in
from accounts.services import check_membership_change, membership_remove, membership_set
from scopes.models import (
    AccessToken,
    Application,
    ApplicationScope,
    Consent,
    Grant,
    IDToken,
    RefreshToken,
    RoleGrant,
    Scope,
)
from scopes.registry import closure
from scopes.selectors import admin_applications, implication_graph, scope_usage
from scopes.services import (
    check_implications,
    check_role_editable,
    check_role_grants,
    consent_narrow,
    consent_revoke,
    tokens_revoke,
)
from scopes.usage import preview
from scopes.usage.admin_preview import PreviewBeforeSave

STAFF_CHOICES[Application] = admin_applications


class SuperuserWritesOnly:
    """Staff may look; only superusers add, change or delete."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


# --- Scopes


class ScopeAdminForm(forms.ModelForm):
    """Refuses an implication that would close a cycle, naming it."""

    class Meta:
        model = Scope
        fields = ["name", "description", "implies"]

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; its stub allows None
        name = cleaned.get("name") or (self.instance.name if self.instance.pk else None)
        implies = cleaned.get("implies")
        if name and implies is not None:
            try:
                check_implications(scope_name=name, implies=[s.name for s in implies])
            except ValidationError as exc:
                self.add_error("implies", exc)
        return cleaned


@admin.register(Scope)
class ScopeAdmin(PreviewBeforeSave, SuperuserWritesOnly, AuditedAdmin):
    form = ScopeAdminForm
    audit_actions = (AuditAction.SCOPE_CREATED, AuditAction.SCOPE_CHANGED, AuditAction.SCOPE_DELETED)
    list_display = ["name", "description", "implied_list"]
    search_fields = ["name", "description"]
    filter_horizontal = ["implies"]
    readonly_fields = ["full_closure", "used_by"]
    actions = None  # bulk delete would skip the in-use check below

    def preview_selection(self, obj: Scope) -> preview.Selection:
        return preview.for_registry()  # an implication can move any token's or member's rights

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scope]:
        return super().get_queryset(request).prefetch_related("implies")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A name is fixed once created (the database refuses a rename: scopes.freshness).
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "name"] if obj is not None else fields

    @admin.display(description="implies")
    def implied_list(self, obj: Scope) -> str:
        return ", ".join(s.name for s in obj.implies.all()) or "—"

    @admin.display(description="everything it contains (transitive)")
    def full_closure(self, obj: Scope) -> str:
        if not obj.pk:
            return "—"
        contained = sorted(closure([obj.name], implication_graph()) - {obj.name})
        return ", ".join(contained) or "—"

    @admin.display(description="used by")
    def used_by(self, obj: Scope) -> str:
        usage = self._usage(obj)
        if not usage:
            return "not used"
        return format_html_join(
            "", "<p><strong>{}</strong>: {}</p>", ((k, ", ".join(v)) for k, v in usage.items())
        )

    @staticmethod
    def _usage(obj: Scope) -> dict[str, list[str]]:
        if not obj.pk:
            return {}
        usage = scope_usage(obj)
        consents = [str(c) for c in obj.consents.select_related("user", "application", "tenant")]
        if consents:
            usage["consents"] = consents
        return {k: v for k, v in usage.items() if v}

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        obj = self.get_object(request, object_id)
        usage = self._usage(obj) if obj else {}
        if obj is not None and usage:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in usage.items())
            self.message_user(
                request,
                f"The scope {obj.name} is still in use and cannot be deleted. Used by {listed}.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:scopes_scope_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)


# --- Roles and their grants; memberships (escalation-checked)


class RoleGrantInlineFormSet(forms.BaseInlineFormSet):
    """Grants a staff user writes must be within what they hold in the role's (stored) tenant."""

    request: HttpRequest

    def grants(self) -> list[tuple[str, str]]:
        return [
            (f.cleaned_data["scope"].name, f.cleaned_data["reach"])
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("scope")
        ]

    def clean(self) -> None:
        super().clean()
        # `self.instance` already carries what the role form posted (a new tenant, say): the
        # service judges the role in the tenant the database holds for it.
        check_role_grants(actor=signed_in(self.request.user), role=self.instance, grants=self.grants())


class RoleGrantInline(admin.TabularInline):
    """A role's grants, edited on the role."""

    model = RoleGrant
    formset = RoleGrantInlineFormSet
    extra = 0
    autocomplete_fields = ["scope"]

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = cast(type[RoleGrantInlineFormSet], super().get_formset(request, obj, **kwargs))
        formset.request = request
        return formset


GRANT_ACTIONS = (AuditAction.GRANT_CREATED, AuditAction.GRANT_CHANGED, AuditAction.GRANT_DELETED)

admin.site.unregister(Role)


def _allowed(check: Any, **kwargs: Any) -> bool:
    """Whether a service's check passes: the admin hides what the service would refuse."""
    try:
        check(**kwargs)
    except ValidationError:
        return False
    return True


@admin.register(Role)
class RoleAdmin(PreviewBeforeSave, AccountsRoleAdmin):
    """Staff see the global templates and their tenants' roles; they edit only their tenants' roles
    that reach no further than their own, and never move a role to another tenant."""

    inlines = [RoleGrantInline]
    inline_audit_actions = {RoleGrant: GRANT_ACTIONS}

    def preview_selection(self, obj: Role) -> preview.Selection:
        return preview.for_role(obj.pk)

    def audit_tenant(self, obj: Any) -> Tenant | None:
        role = obj.role if isinstance(obj, RoleGrant) else obj
        return role.tenant

    def _may_write(self, request: HttpRequest, obj: Role | None) -> bool:
        return obj is None or _allowed(check_role_editable, actor=request.user, role=obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_write(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser or obj is None else [*fields, "tenant"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser and "tenant" in form.base_fields:
            form.base_fields["tenant"].required = True
            form.base_fields["tenant"].help_text = "Only superusers create global roles."
        return form

    def save_model(self, request: HttpRequest, obj: Role, form: Any, change: bool) -> None:
        check_role_editable(actor=signed_in(request.user), role=obj)
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is RoleGrant:
            check_role_grants(actor=signed_in(request.user), role=form.instance, grants=formset.grants())
        super().save_formset(request, form, formset, change)

    def delete_model(self, request: HttpRequest, obj: Role) -> None:
        check_role_editable(actor=signed_in(request.user), role=obj)
        super().delete_model(request, obj)


def check_membership_form(
    *, actor: User, before: Membership | None, user: User, tenant: Tenant, role: Role | None, delete: bool
) -> None:
    """What the membership services will say about this admin row, asked before anything is written.

    A row whose user or tenant was changed is the removal of the old membership and a new one.
    """
    current = before.role if before is not None else None
    if before is not None and (delete or before.user_id != user.pk or before.tenant_id != tenant.pk):
        check_membership_change(actor=actor, tenant=before.tenant, current=before.role, new=None)
        current = None
    if not delete and role is not None:
        check_membership_change(actor=actor, tenant=tenant, current=current, new=role)


def _stored(pk: int | None) -> Membership | None:
    return Membership.objects.select_related("tenant", "role").filter(pk=pk).first() if pk else None


class MembershipForm(forms.ModelForm):
    """One membership on its own page: the services' rule shown as a form error."""

    request: HttpRequest

    class Meta:
        model = Membership
        fields = ["user", "tenant", "role"]

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; its stub allows None
        user = cleaned.get("user") or getattr(self.instance, "user", None)
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        role = cleaned.get("role")
        if user is not None and tenant is not None and role is not None:
            try:
                check_membership_form(
                    actor=signed_in(self.request.user),
                    before=_stored(self.instance.pk),
                    user=user,
                    tenant=tenant,
                    role=role,
                    delete=False,
                )
            except ValidationError as exc:
                self.add_error("role", exc)
        return cleaned


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    """Memberships on a tenant's or a user's page: every added, changed or deleted row is checked.

    In the formset, not the row's form: Django ignores the errors of a row marked for deletion.
    """

    request: HttpRequest

    def clean(self) -> None:
        super().clean()
        problems: list[ValidationError] = []
        for form in self.forms:
            # _should_delete_form: Django's own test for a row marked for deletion (not in the stubs).
            deleting = self._should_delete_form(form)  # type: ignore[attr-defined]
            if not form.cleaned_data or not (form.has_changed() or deleting):
                continue
            if form.errors:
                continue  # a row already refused (e.g. a tenant or user the viewer cannot choose)
            data = form.cleaned_data
            # getattr: an unsaved row has no user or tenant yet (RelatedObjectDoesNotExist).
            user = data.get("user") or getattr(form.instance, "user", None)
            tenant = data.get("tenant") or getattr(form.instance, "tenant", None)
            if user is None or tenant is None:
                continue
            try:
                check_membership_form(
                    actor=signed_in(self.request.user),
                    before=_stored(form.instance.pk),
                    user=user,
                    tenant=tenant,
                    role=data.get("role"),
                    delete=deleting,
                )
            except ValidationError as exc:
                problems.append(exc)
        if problems:
            raise ValidationError(problems)


def save_membership_formset(request: HttpRequest, formset: Any) -> None:
    """Write a membership formset through the services (which audit), never by saving rows directly."""
    formset.save(commit=False)  # fills new_objects, changed_objects, deleted_objects; writes nothing
    actor = signed_in(request.user)
    for obj in formset.deleted_objects:
        before = _stored(obj.pk)
        if before is not None:
            membership_remove(actor=actor, user=before.user, tenant=before.tenant)
    for obj, _fields in formset.changed_objects:
        before = _stored(obj.pk)
        if before is not None and (before.user_id, before.tenant_id) != (obj.user_id, obj.tenant_id):
            membership_remove(actor=actor, user=before.user, tenant=before.tenant)
        obj.pk = membership_set(actor=actor, user=obj.user, tenant=obj.tenant, role=obj.role).pk
    for obj in formset.new_objects:
        obj.pk = membership_set(actor=actor, user=obj.user, tenant=obj.tenant, role=obj.role).pk


class MembershipsViaServices:
    """Tenant and user pages: their membership inlines are written by the services."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Membership:
            save_membership_formset(request, formset)
        else:
            super().save_formset(request, form, formset, change)  # type: ignore[misc]


def _with_request(form_class: type, request: HttpRequest) -> type:
    return type(form_class.__name__, (form_class,), {"request": request})


class CheckedTenantMembershipInline(TenantMembershipInline):
    formset = MembershipInlineFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return _with_request(super().get_formset(request, obj, **kwargs), request)


class CheckedUserMembershipInline(UserMembershipInline):
    formset = MembershipInlineFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return _with_request(super().get_formset(request, obj, **kwargs), request)


for model in (Tenant, User, Membership):
    admin.site.unregister(model)


@admin.register(Tenant)
class TenantAdmin(MembershipsViaServices, AccountsTenantAdmin):
    inlines = [CheckedTenantMembershipInline]


@admin.register(User)
class UserAdmin(MembershipsViaServices, AccountsUserAdmin):
    inlines = [CheckedUserMembershipInline]


@admin.register(Membership)
class MembershipAdmin(PreviewBeforeSave, AccountsMembershipAdmin):
    """One membership per page, written by the services; stronger members are read-only to staff."""

    form = MembershipForm
    audit_actions = None  # the services write the audit rows

    def preview_selection(self, obj: Membership) -> preview.Selection:
        return preview.for_membership(obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return _with_request(super().get_form(request, obj, change=change, **kwargs), request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Who and where is what a membership is: to move it, remove it and add another.
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "user", "tenant"]

    def _may_act_on(self, request: HttpRequest, obj: Membership) -> bool:
        return _allowed(
            check_membership_change, actor=request.user, tenant=obj.tenant, current=obj.role, new=None
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self._may_act_on(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self._may_act_on(request, obj))

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        obj.pk = membership_set(
            actor=signed_in(request.user), user=obj.user, tenant=obj.tenant, role=obj.role
        ).pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(actor=signed_in(request.user), user=obj.user, tenant=obj.tenant)


# --- Applications


class ApplicationScopeInline(admin.TabularInline):
    """The scopes an app may ask for, with the app's reason for each."""

    model = ApplicationScope
    extra = 0
    autocomplete_fields = ["scope"]


for model in (Application, AccessToken, RefreshToken, Grant, IDToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Application)
class ApplicationAdmin(
    PreviewBeforeSave, SuperuserWritesOnly, StaffScopedAdmin, AuditedAdmin, DotApplicationAdmin
):
    audit_actions = (
        AuditAction.APPLICATION_CREATED,
        AuditAction.APPLICATION_CHANGED,
        AuditAction.APPLICATION_DELETED,
    )
    inline_audit_actions = {
        ApplicationScope: (
            AuditAction.APPLICATION_CHANGED,
            AuditAction.APPLICATION_CHANGED,
            AuditAction.APPLICATION_CHANGED,
        )
    }
    list_display = ["name", "client_id", "client_type", "tenant", "publisher", "is_resource_server"]
    list_filter = [
        "client_type",
        "authorization_grant_type",
        "is_resource_server",
        ("tenant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "client_id", "publisher"]
    autocomplete_fields = ["tenant"]
    inlines = [ApplicationScopeInline]

    def preview_selection(self, obj: Application) -> preview.Selection:
        return preview.for_application(obj.pk)

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_applications(user))

    def audit_tenant(self, obj: Any) -> Tenant | None:
        app = obj.application if isinstance(obj, ApplicationScope) else obj
        return app.tenant

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        # A stored secret is a hash (or, for a public client, empty): never show it. On "add" the
        # generated secret is shown once so the administrator can copy it before it is hashed.
        exclude = list(super().get_exclude(request, obj) or [])
        if obj is not None:
            exclude += ["client_secret"]
        return exclude

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("secret_note")
        return fields

    @admin.display(description="client secret")
    def secret_note(self, obj: Application) -> str:
        if obj.client_type == Application.CLIENT_PUBLIC:
            return "none: a public client authenticates with PKCE only"
        return "stored hashed; it cannot be shown. Register a new app to issue a new secret."


# --- Consents and tokens: read-only, with revoke actions


class ConsentAdminForm(forms.ModelForm):
    """The only edit: tick scopes to take back (effective at once on live tokens)."""

    remove_scopes = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Take back these scopes"
    )

    class Meta:
        model = Consent
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["remove_scopes"]).choices = [
            (s.name, s.name) for s in self.instance.scopes.all()
        ]


@admin.register(Consent)
class ConsentAdmin(StaffScopedAdmin):
    form = ConsentAdminForm
    list_display = ["user", "tenant", "application", "scope_list", "updated_at", "last_used_at"]
    list_filter = [
        ("tenant", admin.RelatedOnlyFieldListFilter),
        ("application", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["user__username", "application__name", "tenant__slug"]
    readonly_fields = [
        "user",
        "tenant",
        "application",
        "scope_list",
        "created_at",
        "updated_at",
        "last_used_at",
    ]
    fields = [*readonly_fields, "remove_scopes"]
    list_select_related = ["user", "tenant", "application"]
    actions = ["revoke_consents"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Consent]:
        return super().get_queryset(request).prefetch_related("scopes")

    @admin.display(description="scopes")
    def scope_list(self, obj: Consent) -> str:
        return " ".join(s.name for s in obj.scopes.all())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: it also kills the grant's tokens and writes the audit row

    def save_model(self, request: HttpRequest, obj: Consent, form: Any, change: bool) -> None:
        remove = form.cleaned_data.get("remove_scopes") or []
        if remove:
            consent_narrow(actor=signed_in(request.user), consent=obj, remove=remove)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing else on a consent is editable here."""

    def response_change(self, request: HttpRequest, obj: Consent) -> HttpResponse:
        if not Consent.objects.filter(pk=obj.pk).exists():
            self.message_user(request, "That was the last scope: the consent was revoked.")
            return HttpResponseRedirect(reverse("admin:scopes_consent_changelist"))
        return super().response_change(request, obj)

    @admin.action(description="Revoke the selected consents (and every token of them)")
    def revoke_consents(self, request: HttpRequest, queryset: QuerySet[Consent]) -> None:
        count = 0
        for consent in queryset.select_related("user", "tenant", "application"):
            consent_revoke(actor=signed_in(request.user), consent=consent)
            count += 1
        self.message_user(request, f"Revoked {count} consent(s).")


class ReadOnlyTokenAdmin(StaffScopedAdmin, ReadOnlyAdmin):
    """Tokens are looked at and revoked, never edited; their values are never shown."""

    exclude = ["token", "token_checksum"]
    list_select_related = ["user", "application", "tenant"]
    list_filter = [
        ("tenant", admin.RelatedOnlyFieldListFilter),
        ("application", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["user__username", "application__name", "application__client_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "scope", "expires"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected access tokens (and their refresh tokens)")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        count = tokens_revoke(
            actor=signed_in(request.user), access_tokens=list(queryset.select_related("user", "tenant"))
        )
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "created", "revoked"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected refresh tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        count = tokens_revoke(
            actor=signed_in(request.user), refresh_tokens=list(queryset.select_related("user", "tenant"))
        )
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(Grant)
class GrantAdmin(ReadOnlyTokenAdmin):
    exclude = ["code", "code_challenge"]
    list_display = ["id", "user", "application", "tenant", "expires", "used_at"]


# --- Django's groups: a group's permissions reach every tenant, so only superusers write them.

admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserWritesOnly, DjangoGroupAdmin):
    """Staff holding `change_group` would otherwise hand their own group every permission."""
