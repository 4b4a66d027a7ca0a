"""Admin screens for tenants, users, Django's groups and the audit log.

The tenant and user pages carry their memberships inline, which only `scopes.roles` writes: the
classes are defined here and registered there (`scopes.roles.admin`), with the inlines added.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import tenancy
from accounts.admin.base import (
    AuditedAdmin,
    ReadOnlyAdmin,
    StaffScopedAdmin,
    SuperuserWritesOnly,
)
from accounts.constants import AuditAction
from accounts.models import AuditEvent, Tenant, User, signed_in
from accounts.selectors import admin_users
from accounts.services import PRIVILEGED_USER_FIELDS, user_update


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


class TenantAdmin(StaffScopedAdmin, AuditedAdmin):
    """A tenant's page (registered with its members inline by `scopes.roles.admin`)."""

    audit_actions = (AuditAction.TENANT_CHANGED, AuditAction.TENANT_CHANGED, AuditAction.TENANT_CHANGED)
    list_display = ["name", "slug", "is_active", "member_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
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


class UserAdmin(StaffScopedAdmin, AuditedAdmin, DjangoUserAdmin):
    """People: staff see the members of their tenants and change only their own account.

    An account is the person's in every tenant, some of which the staff user cannot see; staff
    manage others through their memberships. Superuser, staff, groups and permissions are shown
    to superusers only (`accounts.services.check_user_change` refuses them to anyone else).
    Registered with the person's memberships inline by `scopes.roles.admin`.
    """

    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]

    def staff_scope(self, user: User, queryset: QuerySet) -> QuerySet:
        return queryset if user.is_superuser else queryset.filter(pk__in=admin_users(user))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # Groups are not used (GroupAdmin below): nobody is offered them. Staff see none of
        # Django's powers either.
        hidden = {"groups"} if request.user.is_superuser else PRIVILEGED_USER_FIELDS
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in super().get_fieldsets(request, obj)
        ]

    def get_list_filter(self, request: HttpRequest) -> Any:
        # Groups are not used; staff filter on nothing they cannot change.
        return ["is_staff", "is_superuser", "is_active"] if request.user.is_superuser else ["is_active"]

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


# Django's groups: a group's permissions reach every tenant, so only superusers write them.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserWritesOnly, DjangoGroupAdmin):
    """Staff holding `change_group` would otherwise hand their own group every permission.

    Not on the index, and not on a person's page: this project gives Django permissions per person
    (a tenant administrator's set: photos.demo.TENANT_ADMINISTRATOR_PERMISSIONS), and what
    someone may do in a tenant comes from their role there, never from a group. Kept registered
    so a superuser can still see any group an older database holds (/admin/auth/group/).
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False
