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


def signed_form(request: HttpRequest, payload: dict[str, Any], *, salt: str, session_key: str) -> str:
    """`payload` signed for this user with a fresh nonce, which the session remembers (the last 20)."""
    nonce = secrets.token_urlsafe(16)
    request.session[session_key] = [*request.session.get(session_key, [])[-19:], nonce]
    return signing.dumps({**payload, "uid": request.user.pk, "nonce": nonce}, salt=salt, compress=True)


def claimed_form(request: HttpRequest, *, salt: str, session_key: str, max_age: int) -> dict[str, Any] | str:
    """The posted form's payload, claimed (single use); or why it cannot be used.

    The session binds the form to this browser; the database makes it single-use, also when two
    posts of it arrive at once (both would find the nonce in their session copy).
    """
    payload = read_signed_form(request.POST.get("request_token", ""), salt=salt, max_age=max_age)
    if payload is None:
        return EXPIRED
    nonces = request.session.get(session_key, [])
    if (
        payload.get("uid") != request.user.pk
        or payload.get("nonce") not in nonces
        or not consent_form_use(nonce=payload["nonce"], lifetime=max_age)
    ):
        return USED
    nonces.remove(payload["nonce"])
    request.session[session_key] = nonces
    return payload


def page_form(request: HttpRequest, req: AuthorizeRequest, s: Situation, page: ShowPage) -> dict[str, Any]:
    """The consent page's template context, with its signed form."""
    payload = {
        "oauth": dict(req.oauth),
        "scopes": requested_scopes(req, s),
        "include_granted": req.include_granted,
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
        request_token=signed_form(request, payload, salt=CONSENT_SALT, session_key=SESSION_NONCES),
        albums=page.albums,
        switch_params=[(k, v) for k, v in request.GET.items() if k != "tenant"],
        notice=page.notice,
    )


def claim_form(request: HttpRequest) -> dict[str, Any] | str:
    """The consent page's posted form, claimed; or why it cannot be used."""
    return claimed_form(request, salt=CONSENT_SALT, session_key=SESSION_NONCES, max_age=CONSENT_MAX_AGE)
