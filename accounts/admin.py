"""Admin screens for tenants, users, roles and memberships."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import tenancy
from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership, Role, Tenant, User, signed_in
from accounts.selectors import admin_roles, admin_tenants, admin_users
from accounts.services import PRIVILEGED_USER_FIELDS, audit_record, user_update

SECRET_FIELDS = {"password", "client_secret", "token", "token_checksum", "code", "secret"}


def snapshot(obj: models.Model) -> dict[str, Any]:
    """A JSON-able picture of a row for the audit log: fields and many-to-many names, no secrets."""
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.name in SECRET_FIELDS or f.primary_key:
            continue
        value = getattr(obj, f.attname)
        data[f.name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    if obj.pk:
        for f in obj._meta.many_to_many:
            data[f.name] = sorted(str(o) for o in getattr(obj, f.name).all())
    return data


# What a staff user may pick in a foreign-key field (dropdown, autocomplete, raw id), by the related
# model: only what their tenants hold. `scopes.admin` adds its own models. A superuser gets all.
STAFF_CHOICES: dict[type[models.Model], Callable[[User], QuerySet]] = {
    Tenant: admin_tenants,
    User: admin_users,
    Role: admin_roles,
}


class StaffChoicesMixin:
    """Foreign-key choices limited to the staff user's tenants, so a posted foreign id is refused.

    The autocomplete view asks the related model's admin (scoped by its `get_queryset`), but the
    form field validates against its own queryset: both must be scoped, and this does the second.
    """

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        scoped = STAFF_CHOICES.get(db_field.related_model)
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped(signed_in(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class StaffScopedAdmin(StaffChoicesMixin, admin.ModelAdmin):
    """Changelist, change, delete, history and bulk actions see only the staff user's tenants' rows.

    Done by the ORM (not left to PostgreSQL's row-level security), so SQLite is as safe; every
    admin page and action starts from `get_queryset`. `staff_tenant_path` is the lookup from
    the model to its tenant; subclasses with another shape override `staff_scope`.
    """

    staff_tenant_path = "tenant"

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        if user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.staff_tenant_path}__in": admin_tenants(user)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.staff_scope(signed_in(request.user), super().get_queryset(request))


class AuditedAdmin(admin.ModelAdmin):
    """Writes an audit row for every add, change and delete made through this admin, with before/after.

    Rows changed in inlines are recorded too, each as its own event. Subclasses name the actions.
    """

    audit_actions: tuple[AuditAction, AuditAction, AuditAction] | None = None
    inline_audit_actions: dict[type[models.Model], tuple[AuditAction, AuditAction, AuditAction]] = {}

    def audit_tenant(self, obj: models.Model) -> Tenant | None:
        tenant = getattr(obj, "tenant", None)
        return tenant if isinstance(tenant, Tenant) else None

    # `obj: Any` as in ModelAdmin: each subclass names its own model.
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        request._audit_before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if self.audit_actions is None:
            return
        obj = form.instance
        before = getattr(request, "_audit_before", None)
        after = snapshot(obj)
        if change and before == after:
            return
        created, changed, _deleted = self.audit_actions
        audit_record(
            actor=signed_in(request.user),
            action=changed if change else created,
            target=obj,
            tenant=self.audit_tenant(obj),
            before=before,
            after=after,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        actions = self.inline_audit_actions.get(formset.model)
        if actions is None:
            super().save_formset(request, form, formset, change)
            return
        created, changed, deleted = actions
        befores = {
            f.instance.pk: snapshot(type(f.instance)._default_manager.get(pk=f.instance.pk))
            for f in formset.initial_forms
            if f.instance.pk and f.has_changed()
        }
        doomed = [(f.instance, snapshot(f.instance)) for f in formset.deleted_forms if f.instance.pk]
        super().save_formset(request, form, formset, change)
        for obj, before in doomed:
            audit_record(
                actor=signed_in(request.user),
                action=deleted,
                target=obj,
                tenant=self.audit_tenant(obj),
                before=before,
            )
        for obj in formset.new_objects:
            audit_record(
                actor=signed_in(request.user),
                action=created,
                target=obj,
                tenant=self.audit_tenant(obj),
                after=snapshot(obj),
            )
        for obj, _fields in formset.changed_objects:
            audit_record(
                actor=signed_in(request.user),
                action=changed,
                target=obj,
                tenant=self.audit_tenant(obj),
                before=befores.get(obj.pk),
                after=snapshot(obj),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        if self.audit_actions is not None:
            audit_record(
                actor=signed_in(request.user),
                action=self.audit_actions[2],
                target=obj,
                tenant=self.audit_tenant(obj),
                before=snapshot(obj),
            )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are looked at (and acted on through actions), never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(StaffScopedAdmin, ReadOnlyAdmin):
    """The audit log: read-only, filterable by tenant, actor, action and date.

    Staff read their tenants' events only; events of no tenant (scopes, apps) are the platform's.
    """

    list_display = ["created_at", "actor_label", "tenant_label", "action", "target_label"]
    list_filter = [
        "action",
        ("tenant", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["actor_label", "tenant_label", "target_label", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


class MembershipInline(StaffChoicesMixin, admin.TabularInline):
    """Memberships edited in place, on the tenant and on the user (a user's, in the staff's tenants only)."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user", "role"]
    fields = ["user", "tenant", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        qs = super().get_queryset(request)
        return (
            qs if request.user.is_superuser else qs.filter(tenant__in=admin_tenants(signed_in(request.user)))
        )


class TenantMembershipInline(MembershipInline):
    fields = ["user", "role", "created_at"]


class UserMembershipInline(MembershipInline):
    fields = ["tenant", "role", "created_at"]
    autocomplete_fields = ["tenant", "role"]


MEMBERSHIP_ACTIONS = (
    AuditAction.MEMBERSHIP_CREATED,
    AuditAction.MEMBERSHIP_CHANGED,
    AuditAction.MEMBERSHIP_REMOVED,
)


@admin.register(Tenant)
class TenantAdmin(StaffScopedAdmin, AuditedAdmin):
    audit_actions = (AuditAction.TENANT_CHANGED, AuditAction.TENANT_CHANGED, AuditAction.TENANT_CHANGED)
    inline_audit_actions = {Membership: MEMBERSHIP_ACTIONS}
    list_display = ["name", "slug", "is_active", "member_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantMembershipInline]
    staff_tenant_path = "pk"

    # A tenant itself (its slug in every API URL, whether it answers at all, its existence) is the
    # platform's: staff rename their tenants and manage members, only a superuser adds, switches
    # off or deletes one. A staff user could not even see a tenant they added (not a member).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, "slug", "is_active"]

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return super().get_prepopulated_fields(request, obj) if request.user.is_superuser else {}

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # Its memberships (the inline) are written next, in this request: let it see the tenant.
            tenancy.include_tenant(obj.pk)

    @admin.display(description="members")
    def member_count(self, obj: Tenant) -> int:
        return obj.memberships.count()


@admin.register(User)
class UserAdmin(StaffScopedAdmin, AuditedAdmin, DjangoUserAdmin):
    """People: staff see the members of their tenants and change only their own account.

    An account is the person's in every tenant, some of which the staff user cannot see; staff
    manage others through their memberships. Superuser, staff, groups and permissions are shown
    to superusers only (`accounts.services.check_user_change` refuses them to anyone else).
    """

    inline_audit_actions = {Membership: MEMBERSHIP_ACTIONS}
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]
    inlines = [UserMembershipInline]

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_users(user))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in PRIVILEGED_USER_FIELDS]})
            for name, options in fieldsets
        ]

    def get_list_filter(self, request: HttpRequest) -> Any:
        # Django's filters on groups list every group; staff filter on nothing they cannot change.
        return super().get_list_filter(request) if request.user.is_superuser else ["is_active"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or request.user.is_superuser or obj.pk == request.user.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or request.user.is_superuser)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        user_update(actor=signed_in(request.user), user=obj, changed=form.changed_data)


@admin.register(Role)
class RoleAdmin(StaffScopedAdmin, AuditedAdmin):
    audit_actions = (AuditAction.ROLE_CREATED, AuditAction.ROLE_CHANGED, AuditAction.ROLE_DELETED)
    list_display = ["name", "tenant", "description"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["tenant"]

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_roles(user))


@admin.register(Membership)
class MembershipAdmin(StaffScopedAdmin, AuditedAdmin):
    audit_actions: tuple[AuditAction, AuditAction, AuditAction] | None = MEMBERSHIP_ACTIONS
    list_display = ["user", "tenant", "role", "created_at"]
    # Only what the (scoped) changelist holds: the plain filters would list every tenant and role.
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter), ("role", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["user", "tenant", "role"]
    list_select_related = ["user", "tenant", "role"]


# The audit stream's screens live with their feature (accounts.audit_stream).
from accounts.audit_stream import admin as audit_stream_admin  # noqa: E402, F401
