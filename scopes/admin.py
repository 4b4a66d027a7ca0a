"""Admin screens for the scope registry, role grants, client apps, consents and tokens."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join
from oauth2_provider.admin import (
    AccessTokenAdmin as DotAccessTokenAdmin,
)
from oauth2_provider.admin import (
    ApplicationAdmin as DotApplicationAdmin,
)
from oauth2_provider.admin import (
    GrantAdmin as DotGrantAdmin,
)
from oauth2_provider.admin import (
    RefreshTokenAdmin as DotRefreshTokenAdmin,
)

from accounts.admin import RoleAdmin as AccountsRoleAdmin
from accounts.models import Role
from scopes.models import (
    AccessToken,
    Application,
    ApplicationScope,
    Consent,
    Grant,
    RefreshToken,
    RoleGrant,
    Scope,
)
from scopes.registry import closure
from scopes.selectors import implication_graph, scope_usage
from scopes.services import check_implications


class ScopeAdminForm(forms.ModelForm):
    """Refuses an implication that would close a cycle, naming it."""

    class Meta:
        model = Scope
        fields = ["name", "description", "implies"]

    def clean(self) -> dict:
        cleaned = super().clean()
        name = cleaned.get("name") or (self.instance.name if self.instance.pk else None)
        implies = cleaned.get("implies")
        if name and implies is not None:
            try:
                check_implications(scope_name=name, implies=[s.name for s in implies])
            except ValidationError as exc:
                self.add_error("implies", exc)
        return cleaned


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    form = ScopeAdminForm
    list_display = ["name", "description", "implied_list"]
    search_fields = ["name", "description"]
    filter_horizontal = ["implies"]
    readonly_fields = ["full_closure", "used_by"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("implies")

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
        if not obj.pk:
            return "—"
        usage = scope_usage(obj)
        if not any(usage.values()):
            return "not used"
        return format_html_join(
            "", "<p><strong>{}</strong>: {}</p>", ((k, ", ".join(v)) for k, v in usage.items() if v)
        )


class RoleGrantInline(admin.TabularInline):
    """A role's grants, edited on the role."""

    model = RoleGrant
    extra = 0
    autocomplete_fields = ["scope"]


admin.site.unregister(Role)


@admin.register(Role)
class RoleAdmin(AccountsRoleAdmin):
    inlines = [RoleGrantInline]


class ApplicationScopeInline(admin.TabularInline):
    """The scopes an app may ask for, with the app's reason for each."""

    model = ApplicationScope
    extra = 0
    autocomplete_fields = ["scope"]


for model in (Application, AccessToken, RefreshToken, Grant):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Application)
class ApplicationAdmin(DotApplicationAdmin):
    list_display = ["name", "client_id", "client_type", "tenant", "publisher"]
    list_filter = ["client_type", "authorization_grant_type", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "client_id", "publisher"]
    autocomplete_fields = ["tenant", "user"]
    inlines = [ApplicationScopeInline]


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "application", "scope_list", "updated_at", "last_used_at"]
    list_filter = ["tenant", "application"]
    search_fields = ["user__username", "application__name", "tenant__slug"]
    readonly_fields = ["user", "tenant", "application", "scopes", "created_at", "updated_at", "last_used_at"]
    list_select_related = ["user", "tenant", "application"]

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("scopes")

    @admin.display(description="scopes")
    def scope_list(self, obj: Consent) -> str:
        return " ".join(s.name for s in obj.scopes.all())

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(AccessToken)
class AccessTokenAdmin(DotAccessTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "scope", "expires"]
    list_filter = ["application", "tenant"]
    list_select_related = ["user", "application", "tenant"]
    exclude = ["token", "token_checksum"]


@admin.register(RefreshToken)
class RefreshTokenAdmin(DotRefreshTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "revoked"]
    list_filter = ["application", "tenant"]
    list_select_related = ["user", "application", "tenant"]
    exclude = ["token", "token_checksum"]


@admin.register(Grant)
class GrantAdmin(DotGrantAdmin):
    list_display = ["id", "user", "application", "tenant", "expires"]
    list_select_related = ["user", "application", "tenant"]
