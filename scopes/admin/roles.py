"""A role's grants, edited inline on the role's page (the role itself is accounts' screen).

A staff user never writes a grant beyond what they hold in the role's stored tenant
(`scopes.access.escalation.check_role_grants`, asked in `clean` and again on save).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.admin.people import RoleAdmin
from accounts.constants import AuditAction
from accounts.models import signed_in
from scopes.access.escalation import check_role_grants
from scopes.models import RoleGrant


class RoleGrantInlineFormSet(forms.BaseInlineFormSet):
    """Grants a staff user writes must be within what they hold in the role's (stored) tenant."""

    request: HttpRequest

    def save(self, commit: bool = True) -> Any:
        # Asked again when writing, not only in `clean`: the actor's own role may have changed since.
        check_role_grants(actor=signed_in(self.request.user), role=self.instance, grants=self.grants())
        return super().save(commit)

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


RoleAdmin.extend(
    RoleGrantInline,
    (AuditAction.GRANT_CREATED, AuditAction.GRANT_CHANGED, AuditAction.GRANT_DELETED),
)
