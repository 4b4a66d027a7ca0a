"""Consents in the admin: looked at, narrowed or revoked through the consent services (never edited)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.admin.base import StaffScopedAdmin
from accounts.models import signed_in
from scopes.access.albums import ALBUM_TYPE, describe_limit
from scopes.consent.albums import album_names
from scopes.consent.services import consent_narrow, consent_revoke
from scopes.models import Consent


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
    list_display = ["user", "tenant", "application", "scope_list", "album_list", "updated_at", "last_used_at"]
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
        "album_list",
        "created_at",
        "updated_at",
        "last_used_at",
    ]
    fields = [*readonly_fields, "remove_scopes"]
    list_select_related = ["user", "tenant", "application"]
    actions = ["revoke_consents"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Consent]:
        return super().get_queryset(request).prefetch_related("scopes", "album_links")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """The page's album names in one query for all its rows (the photos app answers)."""
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        names = album_names(i for consent in rows if consent.albums_limited for i in _album_ids(consent))
        for consent in rows:
            consent.album_names_shown = names
        return changelist

    @admin.display(description="albums")
    def album_list(self, obj: Consent) -> str:
        """The albums this grant's tokens may reach (RFC 9396; scopes.access.albums): "—" when the
        consent is not album-limited, "no album left" when it is and none remains."""
        if not obj.albums_limited:
            return "—"
        ids = _album_ids(obj)
        names = getattr(obj, "album_names_shown", None) or album_names(ids)
        return describe_limit(frozenset(ids), (f"{names.get(i, 'Album')} (#{i})" for i in ids))

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


def _album_ids(consent: Consent) -> list[int]:
    return [link.object_id for link in consent.album_links.all() if link.kind == ALBUM_TYPE]
