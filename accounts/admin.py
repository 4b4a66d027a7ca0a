"""Admin screens for tenants, users, roles and memberships."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Membership, Role, Tenant, User


class MembershipInline(admin.TabularInline):
    """Memberships edited in place, on the tenant and on the user."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user", "role"]
    fields = ["user", "tenant", "role", "created_at"]
    readonly_fields = ["created_at"]


class TenantMembershipInline(MembershipInline):
    fields = ["user", "role", "created_at"]


class UserMembershipInline(MembershipInline):
    fields = ["tenant", "role", "created_at"]
    autocomplete_fields = ["tenant", "role"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "member_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantMembershipInline]

    @admin.display(description="members")
    def member_count(self, obj: Tenant) -> int:
        return obj.memberships.count()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]
    inlines = [UserMembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "description"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["tenant"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username", "user__email", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["user", "tenant", "role"]
    list_select_related = ["user", "tenant", "role"]
