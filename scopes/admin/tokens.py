"""Tokens and codes in the admin: looked at and revoked (through the services), never edited; their
values never shown. Registered by django-oauth-toolkit from its *_ADMIN_CLASS settings, once."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin.base import ReadOnlyAdmin, StaffScopedAdmin
from accounts.models import signed_in
from scopes.consent.services import tokens_revoke
from scopes.models import AccessToken, RefreshToken


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


class AccessTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "scope", "expires"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected access tokens (and their refresh tokens)")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        count = tokens_revoke(
            actor=signed_in(request.user), access_tokens=list(queryset.select_related("user", "tenant"))
        )
        self.message_user(request, f"Revoked {count} token(s).")


class RefreshTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ["id", "user", "application", "tenant", "created", "revoked"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected refresh tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        count = tokens_revoke(
            actor=signed_in(request.user), refresh_tokens=list(queryset.select_related("user", "tenant"))
        )
        self.message_user(request, f"Revoked {count} token(s).")


class GrantAdmin(ReadOnlyTokenAdmin):
    exclude = ["code", "code_challenge"]
    list_display = ["id", "user", "application", "tenant", "expires", "used_at"]


class IDTokenAdmin(StaffScopedAdmin, ReadOnlyAdmin):
    """OpenID Connect ID tokens, in the tenant of the access token issued with them."""

    staff_tenant_path = "access_token__tenant"
    list_display = ["id", "user", "application", "expires"]
    list_select_related = ["user", "application"]
