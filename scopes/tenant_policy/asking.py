"""Where a person asks the tenant's administrators for an app or a scope ("Ask for this")."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from accounts.models import Tenant
from scopes.models import Application


def ask_url(
    *, tenant: Tenant, kind: str, application: Application | None = None, scope: str = "", back: str = ""
) -> str:
    """Where the signed-in person files a request (the consent page's and the API's links)."""
    params = {"tenant": tenant.slug, "kind": kind}
    if application is not None:
        params["app"] = application.client_id
    if scope:
        params["scope"] = scope
    if back:
        params["next"] = back
    return f"{reverse('account-request-new')}?{urlencode(params)}"
