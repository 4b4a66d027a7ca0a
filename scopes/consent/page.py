"""What an approval page shows: one function for the consent page and the device approval page.

`/o/authorize/` (scopes.consent.views) and `/o/device/approve/` (scopes.device.views) render the
same template from the same flow (`scopes.consent.outcome`), so they must also show the same refusals:
the tenant's app policy with its "Ask the administrators" link, greyed scopes with "Ask for this",
pending requests, and the album lines. Building that context here, once, is what keeps the device
page from falling behind the consent page again (issue 24, item 8).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from accounts.models import Membership, signed_in
from scopes.access.selectors import registry
from scopes.consent.album_pages import AlbumsOnPage
from scopes.consent.rules import ConsentPlan
from scopes.models import Application
from scopes.tenant_policy.asking import ask_url
from scopes.tenant_policy.models import RequestKind, RequestStatus
from scopes.tenant_policy.selectors import requests_of


def page_context(
    request: HttpRequest,
    *,
    application: Application,
    memberships: list[Membership],
    membership: Membership | None,
    plan: ConsentPlan | None,
    request_token: str,
    albums: AlbumsOnPage | None,
    albums_can_widen: bool = True,
    switch_params: Iterable[tuple[str, object]] = (),
    notice: str = "",
    form_action: str = "",
    device_code: str = "",
) -> dict[str, Any]:
    """The template context of an approval page (`scopes/authorize.html`).

    `albums_can_widen` is False where the request cannot carry `authorization_details` (the device
    grant): an album-limited consent then stays limited, and the page says so instead of offering
    to reach every album.
    """
    descriptions = registry().descriptions
    limited = albums is not None and albums.widens
    context: dict[str, Any] = {
        "application": application,
        "memberships": memberships,
        "membership": membership,
        "plan": plan,
        "already_granted": [(n, descriptions.get(n, n)) for n in (plan.already_granted if plan else [])],
        "request_token": request_token,
        "switch_params": list(switch_params),
        "notice": notice,
        "album_plan": albums.plan if albums is not None else None,
        "unlimited_notice": limited and albums_can_widen,
        "album_limit_kept": limited and not albums_can_widen,
        "form_action": form_action,
        "device_code_shown": device_code,
    }
    if membership is not None and plan is not None:
        context.update(consent_page_extras(request, application, membership, plan))
    return context


def consent_page_extras(
    request: HttpRequest, application: Application, membership: Membership, plan: ConsentPlan
) -> dict[str, Any]:
    """What the consent page adds: "ask for this" links, and the person's pending requests here."""
    back = request.get_full_path()
    unavailable = [
        (
            line,
            ask_url(
                tenant=membership.tenant, kind=line.ask, application=application, scope=line.name, back=back
            ),
        )
        for line in plan.unavailable
    ]
    pending = [
        r
        for r in requests_of(signed_in(request.user)).filter(
            tenant=membership.tenant, status=RequestStatus.PENDING
        )
        if r.application_id in (None, application.pk)
    ]
    return {
        "unavailable_lines": unavailable,
        "ask_app_url": ask_url(
            tenant=membership.tenant, kind=RequestKind.APP, application=application, back=back
        ),
        "pending_requests": pending,
    }
