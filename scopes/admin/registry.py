"""The scope registry in the admin: superusers write it through `scope_save` and `scope_delete`,
which refuse a cycle (under the registry lock) or a scope still in use; the form and the delete
page ask the same first, to show the refusal."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin.base import SuperuserWritesOnly
from accounts.admin.preview import PreviewBeforeSave
from accounts.authn import Requirement
from accounts.models import signed_in
from scopes.access.selectors import implication_graph, scope_usage
from scopes.models import Scope
from scopes.registry import closure
from scopes.services import check_implications, scope_delete, scope_save
from scopes.usage.admin_preview import SCOPE_JUDGE


class ScopeAdminForm(forms.ModelForm):
    """Refuses an implication that would close a cycle, naming it."""

    class Meta:
        model = Scope
        fields = ["name", "description", "implies", "required_acr", "max_age"]
        # The consent text is a sentence or two: room to read it whole while writing it.
        widgets = {"description": forms.Textarea(attrs={"rows": 3, "cols": 80, "maxlength": 300})}

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
class ScopeAdmin(PreviewBeforeSave, SuperuserWritesOnly, admin.ModelAdmin):
    rights_judge = SCOPE_JUDGE
    form = ScopeAdminForm
    list_display = ["name", "description", "implied_list", "sign_in_needed"]
    search_fields = ["name", "description"]
    filter_horizontal = ["implies"]
    fields = [
        "name",
        "description",
        "consent_line",
        "implies",
        "full_closure",
        "required_acr",
        "max_age",
        "used_by",
    ]
    readonly_fields = ["consent_line", "full_closure", "used_by"]
    actions = None  # bulk delete would skip the in-use check below

    class Media:
        js = ["admin/scope_consent_preview.js"]  # the preview follows the typing (no inline script: CSP)
        css = {"all": ["admin/scope_consent_preview.css"]}

    @admin.display(description="on the consent page")
    def consent_line(self, obj: Scope) -> str:
        """The line as people read it when an app asks for the scope (scopes/templates/scopes/authorize.html)."""
        return format_html(
            '<div class="consent-preview" id="consent-preview"><span class="scope-desc">{}</span> '
            "<code>{}</code></div>"
            '<div class="help">How the consent page shows it, with the app\'s reason under it. Say what the '
            "app will be able to do, as the person choosing reads it.</div>",
            obj.description or "(the description)",
            obj.name or "(the name)",
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scope]:
        return super().get_queryset(request).prefetch_related("implies")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A name is fixed once created (the database refuses a rename: scopes.access.freshness).
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "name"] if obj is not None else fields

    @admin.display(description="sign-in needed")
    def sign_in_needed(self, obj: Scope) -> str:
        """Step-up (docs/security.md): what a token's sign-in must be to use the scope."""
        requirement = Requirement(acr=obj.required_acr, max_age=obj.max_age)
        return requirement.describe() if requirement.any else "—"

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
        return scope_usage(obj)

    def save_model(self, request: HttpRequest, obj: Scope, form: Any, change: bool) -> None:
        scope_save(actor=signed_in(request.user), scope=obj, implies=form.cleaned_data["implies"])

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the implications were written by scope_save, under the registry lock

    def delete_model(self, request: HttpRequest, obj: Scope) -> None:
        scope_delete(actor=signed_in(request.user), scope=obj)

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
