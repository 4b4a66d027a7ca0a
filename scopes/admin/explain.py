"""The admin's "Explain access" page: the API's own decision, step by step, for any case an admin asks about.

It builds the same authorization context the API loads (from a pasted token, or as if a token had
the chosen scopes) and calls the same `decide_for`, so the two cannot disagree.

Staff see only their tenants here too: the people, tenants and apps offered are theirs, and a
token or an object of another tenant is answered as if it did not exist. The form is a POST
(CSRF-protected): a pasted token must never reach a URL, an access log or the page it renders.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_protect

from accounts import tenancy
from accounts.models import Membership, Tenant, User, signed_in
from accounts.selectors import admin_tenants, admin_users
from scopes.access.audience import photo_api
from scopes.access.context_decision import decide_for, target_for
from scopes.access.decision import Decision, effective_permissions
from scopes.access.resources import registered_resources
from scopes.access.selectors import (
    AuthorizationContext,
    admin_applications,
    authorization_context,
    hypothetical_context,
    registry,
)
from scopes.consent.selectors import consent_plan
from scopes.models import Application
from scopes.oidc.views import issuer


def _scope_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(registry().descriptions)]


class ExplainForm(forms.Form):
    """Who, where, with what, doing what, to which object."""

    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),  # never echoed back into the page
        help_text="Paste an access token: its person, tenant and scopes are used as they stand now.",
    )
    user = forms.ModelChoiceField(
        User.objects.none(),
        required=False,
        help_text="Or, without a token: the person, and the scopes below.",
    )
    tenant = forms.ModelChoiceField(
        Tenant.objects.none(),
        required=False,
        help_text=(
            "The tenant in the API URL (acme in /api/t/acme/photos/). Needed without a token; with one, "
            "empty means the token's own tenant."
        ),
    )
    application = forms.ModelChoiceField(
        Application.objects.none(), required=False, help_text="Needed to show the consent page."
    )
    scopes = forms.MultipleChoiceField(
        choices=_scope_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Without a token: the scopes a token would hold.",
    )
    action = forms.ChoiceField(
        choices=_scope_choices, help_text="The scope the call needs, e.g. photos.delete."
    )
    albums = forms.CharField(
        required=False,
        label="Album limit",
        help_text=(
            "Simulate an album-limited token (RFC 9396): album ids, separated by spaces or commas. "
            "Empty: the token's own limit (a pasted token) or none."
        ),
    )
    resource = forms.ChoiceField(required=False)
    object_id = forms.IntegerField(required=False, min_value=1, label="Object id")

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the viewer may pick is what they may see: their tenants, their members, the apps
        # usable there (everything for a superuser). A posted id outside it is an invalid choice.
        # `self.fields` is typed as plain fields; these are the choice fields declared above.
        choosers = {
            name: cast(forms.ModelChoiceField, self.fields[name])
            for name in ("user", "tenant", "application")
        }
        choosers["user"].queryset = admin_users(viewer).order_by("username")
        choosers["tenant"].queryset = admin_tenants(viewer)
        choosers["application"].queryset = admin_applications(viewer).order_by("name")
        cast(forms.ChoiceField, self.fields["resource"]).choices = [
            ("", "— a collection (list or create) —")
        ] + [(r.kind, r.label) for r in registered_resources().values()]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns; its stub allows None
        if not cleaned.get("token") and not cleaned.get("user"):
            raise forms.ValidationError("Paste a token, or choose a user.")
        if not cleaned.get("token") and not cleaned.get("tenant"):
            self.add_error("tenant", "Choose the tenant the call is made in (a pasted token brings its own).")
        if cleaned.get("object_id") and not cleaned.get("resource"):
            self.add_error("resource", "Choose what kind of object the id is.")
        raw = (cleaned.get("albums") or "").replace(",", " ").split()
        if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in raw):
            self.add_error("albums", "Album ids are whole numbers.")
        else:
            cleaned["albums"] = frozenset(int(part) for part in raw) if raw else None
        return cleaned


NO_SUCH_TOKEN = "No such token: it is unknown, or it was revoked."


def _context(data: dict[str, Any], tenant_ids: set[int]) -> tuple[AuthorizationContext | None, str]:
    if data.get("token"):
        context = authorization_context(data["token"].strip())
        # On PostgreSQL loading the token entered its tenant: go back to the viewer's tenants, so
        # nothing after this reads another tenant's rows.
        tenancy.enter(tenant_ids=tenant_ids)
        if context is None or context.tenant.pk not in tenant_ids:
            # Another tenant's token is answered like an unknown one: nothing of it is shown.
            return None, NO_SUCH_TOKEN
        return context, ""
    return hypothetical_context(user=data["user"], tenant=data["tenant"], scopes=data.get("scopes") or []), ""


def _with_album_limit(context: AuthorizationContext, albums: frozenset[int] | None) -> AuthorizationContext:
    """The context as if its token were limited to `albums` (None: as it is).

    A simulated limit only narrows: a token already limited (by itself or by its album-limited
    consent, scopes.access.standing) keeps only the albums in both, so the page never explains a
    token as reaching an album its standing does not.
    """
    if albums is None:
        return context
    return dataclasses.replace(context, albums=albums if context.albums is None else albums & context.albums)


@csrf_protect
@staff_member_required
def explain_access(request: HttpRequest) -> HttpResponse:
    """Pick a case, see the decision with its trace, and what the consent page would offer.

    Only a POST is explained; a GET (whatever its query string) shows the empty form.
    """
    form = ExplainForm(request.POST if request.method == "POST" else None, viewer=signed_in(request.user))
    result: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        tenant_ids = set(admin_tenants(signed_in(request.user)).values_list("pk", flat=True))
        context, problem = _context(data, tenant_ids)
        if context is None:
            result["problem"] = problem
        else:
            context = _with_album_limit(context, data.get("albums"))
            resource = registered_resources().get(data.get("resource") or "")
            target = None
            if resource and data.get("object_id"):
                facts = resource.locate(data["object_id"])
                if facts is not None and facts.tenant_id not in tenant_ids:
                    facts = None  # another tenant's object: the same answer as a missing one
                target = target_for(
                    context,
                    tenant_id=facts.tenant_id if facts else None,
                    owner_id=facts.owner_id if facts else None,
                    album_id=facts.album_id if facts else None,
                )
            # Without a chosen tenant, the token's own: the URL its holder would call.
            tenant = data.get("tenant") or context.tenant.instance()
            decision: Decision = decide_for(
                context,
                tenant_slug=tenant.slug,
                action_scope=data["action"],
                read_scope=resource.read_scope if resource else None,
                target=target,
                # The call explained is to the tenant's photo API: a token bound to another
                # resource (RFC 8707) is explained as the API refuses it, `wrong_resource`.
                resource=photo_api(tenant.slug).identifier(issuer(request)),
            )
            result.update(
                decision=decision,
                context=context,
                permissions=effective_permissions(
                    token_scopes=context.token_scopes,
                    role_grants=context.role_grants,
                    implications=registry().implications,
                ),
            )
            application = data.get("application")
            user = context.user.instance() if context.user is not None else None
            membership = (
                Membership.objects.filter(user=user, tenant=tenant, tenant__is_active=True)
                .select_related("role", "tenant", "user")
                .first()
            )
            if application and membership:
                requested = list(data.get("scopes") or context.token_scopes)
                result["plan"] = consent_plan(application, membership, requested, fresh=True)
            elif application:
                result["plan_problem"] = f"{user} is not an active member of {tenant}: no consent page."
    return render(
        request,
        "admin/scopes/explain.html",
        {"form": form, "title": "Explain access", "result": result, "has_permission": True},
    )
