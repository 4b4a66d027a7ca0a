"""The consent page's form: one signed payload of what the page showed, claimed once on POST.

The payload carries the request (OAuth fields, scopes, include_granted), the scope lines the
page showed (`ShownPlan`) and its album lines (`AlbumsOnPage`), bound to the user and a nonce the
session holds; the database makes it single-use (`consent_form_use`).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core import signing
from django.http import HttpRequest

from scopes.consent.authorize import CONSENT_MAX_AGE, CONSENT_SALT, SESSION_NONCES, read_signed_form
from scopes.consent.flow import AuthorizeRequest, Situation
from scopes.consent.outcome import ShowPage, requested_scopes
from scopes.consent.page import page_context
from scopes.consent.services import consent_form_use

EXPIRED = "This consent form has expired or was changed. Go back to the app and start again."
USED = "This consent form was already used. Go back to the app and start again."


def page_form(request: HttpRequest, req: AuthorizeRequest, s: Situation, page: ShowPage) -> dict[str, Any]:
    """The page's template context, with its signed form (a fresh nonce in the session)."""
    nonce = secrets.token_urlsafe(16)
    request.session[SESSION_NONCES] = [*request.session.get(SESSION_NONCES, [])[-19:], nonce]
    payload = {
        "oauth": dict(req.oauth),
        "scopes": requested_scopes(req, s),
        "include_granted": req.include_granted,
        "uid": request.user.pk,
        "nonce": nonce,
        # The plan's identity: the POST plans the same way and grants nothing the page did not show.
        "plan": page.shown.to_payload() if page.shown is not None else None,
        "albums": page.albums.to_payload() if page.albums is not None else None,
    }
    return page_context(
        request,
        application=s.application,
        memberships=list(s.memberships),
        membership=s.membership,
        plan=page.plan,
        request_token=signing.dumps(payload, salt=CONSENT_SALT, compress=True),
        albums=page.albums,
        switch_params=[(k, v) for k, v in request.GET.items() if k != "tenant"],
        notice=page.notice,
    )


def claim_form(request: HttpRequest) -> dict[str, Any] | str:
    """The posted form's payload, claimed (single use); or why it cannot be used."""
    payload = read_signed_form(
        request.POST.get("request_token", ""), salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE
    )
    if payload is None:
        return EXPIRED
    nonces = request.session.get(SESSION_NONCES, [])
    # The session binds the form to this browser; the database makes it single-use, also
    # when two posts of it arrive at once (both would find the nonce in their session copy).
    if (
        payload.get("uid") != request.user.pk
        or payload.get("nonce") not in nonces
        or not consent_form_use(nonce=payload["nonce"], lifetime=CONSENT_MAX_AGE)
    ):
        return USED
    nonces.remove(payload["nonce"])
    request.session[SESSION_NONCES] = nonces
    return payload
