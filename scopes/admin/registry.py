"""The scope registry in the admin: superusers write it; a cycle or a scope still in use is refused."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join

from accounts.admin.base import AuditedAdmin, SuperuserWritesOnly
from accounts.constants import AuditAction
from scopes.access.selectors import implication_graph, scope_usage
from scopes.models import Scope
from scopes.registry import closure
from scopes.services import check_implications


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
class ScopeAdmin(SuperuserWritesOnly, AuditedAdmin):
    form = ScopeAdminForm
    audit_actions = (AuditAction.SCOPE_CREATED, AuditAction.SCOPE_CHANGED, AuditAction.SCOPE_DELETED)
    list_display = ["name", "description", "implied_list"]
    search_fields = ["name", "description"]
    filter_horizontal = ["implies"]
    readonly_fields = ["full_closure", "used_by"]
    actions = None  # bulk delete would skip the in-use check below

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scope]:
        return super().get_queryset(request).prefetch_related("implies")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A name is fixed once created (the database refuses a rename: scopes.access.freshness).
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
