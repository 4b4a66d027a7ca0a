"""The admin's usage report (`/admin/usage/`): each allowed scope's last use, and narrowing the app.

Superusers only: narrowing is platform-wide (a tenant's own cap for an app is another feature).
The page parses input and calls the selectors, the preview and the service; it holds no rule.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Tenant, signed_in
from scopes.models import Application
from scopes.usage import preview
from scopes.usage.recorder import today
from scopes.usage.selectors import usage_report
from scopes.usage.services import application_scopes_narrow, scope_refusals

DEFAULT_DAYS = 90


class ReportForm(forms.Form):
    """Which app, which tenant (or every tenant), and how many days make a scope "unused"."""

    application = forms.ModelChoiceField(queryset=Application.objects.order_by("name"))
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.order_by("slug"), required=False, empty_label="every tenant"
    )
    days = forms.IntegerField(min_value=1, max_value=3650, initial=DEFAULT_DAYS, label="Unused for (days)")


@staff_member_required
def usage_report_view(request: HttpRequest) -> HttpResponse:
    user = signed_in(request.user)
    if not user.is_superuser:
        raise PermissionDenied
    form = ReportForm(request.GET or None, initial={"days": DEFAULT_DAYS})
    context: dict = {"form": form, "title": "Scope usage", "has_permission": True}
    if not form.is_valid():
        return render(request, "admin/scopes/usage_report.html", context)
    application: Application = form.cleaned_data["application"]
    tenant: Tenant | None = form.cleaned_data["tenant"]
    days: int = form.cleaned_data["days"]
    lines = usage_report(application=application, tenant=tenant, today=today())
    context.update(application=application, tenant=tenant, days=days, lines=lines)
    # Kept, with the reason, whatever their usage: required scopes and those the app's grants need
    # (the service refuses them too); they are never pre-ticked.
    kept = scope_refusals(application=application, names=[line.scope for line in lines])
    context["kept"] = kept
    context["suggested"] = {
        line.scope for line in lines if line.unused_for(days) and not line.required and line.scope not in kept
    }
    if request.method == "POST":
        remove = [name for name in request.POST.getlist("scope") if name]
        allowed = {line.scope for line in lines}
        if not remove or not set(remove) <= allowed:
            messages.error(request, "Choose at least one of the app's allowed scopes to remove.")
        elif request.POST.get("confirm") != "1":
            # Nothing is saved: the change is made in a savepoint, judged, and rolled back.
            try:
                context["preview"] = preview.preview_of(
                    preview.for_application(application.pk),
                    lambda: application_scopes_narrow(actor=user, application=application, remove=remove),
                )
            except ValidationError as error:  # the service's reasons (a required scope, a grant it breaks)
                messages.error(request, " ".join(error.messages))
            else:
                context["remove"] = sorted(remove)
        else:
            try:
                removed = application_scopes_narrow(actor=user, application=application, remove=remove)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(
                    request,
                    f"{application} may no longer ask for {', '.join(removed)}; live tokens lose "
                    "them at their next request.",
                )
                query = {"application": application.pk, "days": days}
                if tenant is not None:
                    query["tenant"] = tenant.pk
                return redirect(f"{reverse('admin-usage')}?{urlencode(query)}")
    return render(request, "admin/scopes/usage_report.html", context)
