"""The OAuth flows as the tests drive them, written once.

The authorization code + PKCE flow (authorize, consent, code, token, refresh, introspection) and the
device grant, in-process through Django's test client (`Flow`, `refresh`, `device_*`), or over HTTP
against a running server (`authorize_url`, `exchange_code`, `form_fields`). Both are built from the
same pieces: `pkce_pair`, `authorize_params`, `consent_form`, `code_request`, `query_params`.
This module imports no model at import time, so `soak/` drives its users with the same pieces.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests
from django.test import Client

if TYPE_CHECKING:
    from scopes.models import Application

REDIRECT_URI = "http://127.0.0.1:8765/callback"
GRANT_SCOPES = "photos.write profile.read offline_access"
RS_SECRET = "agreement-resource-server"  # the photo API's secret as a resource server (tests/scopes/access/conftest.py)
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


# --- the pieces -------------------------------------------------------------------------------------


def s256(verifier: str) -> str:
    """The S256 code challenge of `verifier` (RFC 7636 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """A fresh code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def authorize_params(
    client_id: str, scope: str, challenge: str, *, state: str, redirect_uri: str = REDIRECT_URI, **extra: str
) -> dict[str, str]:
    """The query of an authorization request with PKCE (S256); `extra` adds or replaces parameters."""
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def consent_form(
    html: str,
    *,
    scopes: list[str] | None = None,
    tenant: str | None = None,
    decision: str = "allow",
    albums: list[int | str] | None = None,
) -> dict[str, Any]:
    """The consent form on a page as a browser submits it: its signed request, its tenant and the
    scopes it ticks, Allow pressed. `scopes`, `tenant`, `decision` and `albums` replace what the
    page would send."""
    shown_tenant = re.search(r'name="tenant" value="([^"]+)"', html)
    data: dict[str, Any] = {
        "request_token": re.search(r'name="request_token" value="([^"]*)"', html).group(1),
        "tenant": tenant or (shown_tenant.group(1) if shown_tenant else ""),
        "scope": re.findall(r'name="scope" value="([^"]+)"', html) if scopes is None else scopes,
        "decision": decision,
    }
    if albums is not None:
        data["album"] = [str(a) for a in albums]
    return data


def query_params(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def redirect_params(location: str) -> dict[str, str]:
    """The parameters of a redirect to the client's callback."""
    assert location.startswith(REDIRECT_URI), location
    return query_params(location)


def code_request(
    code: str, client_id: str, verifier: str, *, redirect_uri: str = REDIRECT_URI
) -> dict[str, str]:
    """The token request that trades an authorization code for tokens (a public client, PKCE)."""
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }


class _Forms(HTMLParser):
    """Every form of a page, each as the fields a browser would submit unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append([])
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            if a.get("type") in {"submit", "button", "file"}:
                return
            default = "on" if a.get("type") in {"checkbox", "radio"} else ""  # what a browser sends
            self.forms[-1].append((a["name"], a.get("value", default)))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1].append((self._select, a.get("value", "")))
        elif tag == "textarea" and a.get("name"):
            self.forms[-1].append((a["name"], ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_fields(html: str, must_have: str) -> list[tuple[str, str]]:
    """The fields of the first form holding a field named `must_have`, as a browser submits them."""
    parser = _Forms()
    parser.feed(html)
    return next(form for form in parser.forms if any(name == must_have for name, _ in form))


# --- in-process, through the Django test client ------------------------------------------------------


@dataclass
class Flow:
    """One authorization attempt by a signed-in browser (`client`) for the app `client_id`."""

    client: Client
    client_id: str
    scope: str
    extra: dict[str, str] = field(default_factory=dict)
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()

    @property
    def params(self) -> dict[str, str]:
        return authorize_params(self.client_id, self.scope, self.challenge, state=self.state, **self.extra)

    def start(self):
        return self.client.get("/o/authorize/?" + urlencode(self.params))

    def consent(
        self,
        page,
        *,
        scopes: list[str] | None = None,
        tenant: str | None = None,
        decision: str = "allow",
        albums: list[int | str] | None = None,
    ):
        """Submit the consent form shown on `page`, ticking `scopes` (default: as the page ticks them)."""
        form = consent_form(
            page.content.decode(), scopes=scopes, tenant=tenant, decision=decision, albums=albums
        )
        return self.client.post("/o/authorize/", form)

    def authorize(self, **consent_kwargs):
        """Start, and consent if a page is shown (remembered consent answers without one)."""
        page = self.start()
        return page if page.status_code == 302 else self.consent(page, **consent_kwargs)

    @staticmethod
    def redirect_params(response) -> dict[str, str]:
        assert response.status_code == 302, response.content[:500]
        return redirect_params(response["Location"])

    def exchange(self, response, *, verifier: str | None = None, client_id: str | None = None):
        """Trade the code in a redirect for tokens at the token endpoint."""
        code = self.redirect_params(response)["code"]
        return Client().post(
            "/o/token/", code_request(code, client_id or self.client_id, verifier or self.verifier)
        )


def refresh(client_id: str, refresh_token: str, **extra: str):
    return Client().post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra},
    )


def introspect(token: str) -> dict:
    """Introspect `token` as the photo API resource server (the `resource_server` fixture)."""
    basic = base64.b64encode(f"photo-api:{RS_SECRET}".encode()).decode()
    return Client().post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}").json()


# --- the consent form as an attacker submits it, and the answers an attack must get -------------------


def form_of(page) -> dict:
    """The consent form on `page` exactly as the browser would submit it, Allow pressed."""
    return consent_form(page.content.decode())


def denied(response, state: str) -> None:
    """The answer to the client is access_denied with its own state, and carries no code."""
    params = Flow.redirect_params(response)
    assert params == {"error": "access_denied", "state": state, "iss": "http://testserver"}


def refused(response) -> None:
    """A page here, never a redirect anywhere."""
    assert response.status_code == 400
    assert not response.has_header("Location")
    assert b"Nothing was granted." in response.content


# --- the device grant (RFC 8628): a device app, starting, entering the code, polling -----------------


def device_app(client_id: str = "photo-frame") -> Application:
    """A public device-grant app allowed every scope."""
    from scopes.constants import ScopeName
    from scopes.models import Application, ApplicationScope, Scope
    from tests.factories import ApplicationFactory

    app = ApplicationFactory(
        name="Photo Frame", client_id=client_id, authorization_grant_type=Application.GRANT_DEVICE_CODE
    )
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=app, scope=scope, reason=f"to use {scope.name}")
    return app


def device_authorization(scope: str, client_id: str = "photo-frame"):
    """The device asks for a device code and a user code (the answer, whatever it is)."""
    body = urlencode({"client_id": client_id, "scope": scope})
    return Client().post("/o/device-authorization/", body, content_type="application/x-www-form-urlencoded")


def device_start(scope: str, client_id: str = "photo-frame") -> dict:
    """The device's codes, which it got."""
    response = device_authorization(scope, client_id)
    assert response.status_code == 200, response.content
    return response.json()


def device_page(browser: Client, user_code: str) -> str:
    """Enter the code and return the approval page's HTML."""
    entered = browser.post("/o/device/", {"user_code": user_code})
    assert entered.status_code == 302, entered.content[:300]
    return browser.get("/o/device/approve/").content.decode()


def device_poll(device_code: str, client_id: str = "photo-frame", *, wait: bool = True):
    """The device asks the token endpoint (after the interval, as a client that honours it would,
    unless `wait` is False)."""
    from django.utils import timezone

    from scopes.models import DeviceGrant

    if wait:
        DeviceGrant.objects.filter(device_code=device_code).update(
            last_checked=timezone.now() - timedelta(seconds=60)
        )
    return Client().post(
        "/o/token/", {"grant_type": DEVICE, "device_code": device_code, "client_id": client_id}
    )


# --- over HTTP, against a running server (the live server, gunicorn) ---------------------------------


def authorize_url(base_url: str, client_id: str, scope: str, challenge: str, **extra: str) -> str:
    """The authorization request a browser is sent to (state `xyz` unless `extra` says otherwise)."""
    params = authorize_params(client_id, scope, challenge, **{"state": "xyz", **extra})
    return f"{base_url}/o/authorize/?{urlencode(params)}"


def exchange_code(base_url: str, client_id: str, callback_url: str, verifier: str) -> dict:
    """Trade the code in the callback URL for tokens at the server's token endpoint."""
    code = query_params(callback_url)["code"]
    response = requests.post(f"{base_url}/o/token/", data=code_request(code, client_id, verifier), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def assert_standing_read_locks_the_consent(captured: Any) -> None:
    """A token grant's statements (a `CaptureQueriesContext`): its standing is read once, and on
    PostgreSQL that statement also locks the consent (no lock statement of its own); elsewhere
    (SQLite) the consent is checked by its key in a small statement at the write.

    The client-credentials grant reads its standing through the grant probe
    (`scopes.access.cache.locked_source_grant`): the probe alone when the process holds the grant,
    else the probe and then the grant's query; the probe is the statement that locks."""
    from django.db import connection

    statements = [q["sql"] for q in captured.captured_queries]
    reads = [sql for sql in statements if "scopes_rolegrant" in sql or GRANT_PROBE.match(sql)]
    alone = [sql for sql in statements if re.match(r"\s*SELECT id FROM scopes_consent WHERE id = ", sql)]
    queries = [sql for sql in reads if "scopes_rolegrant" in sql]
    assert len(queries) <= 1 and 1 <= len(reads) <= 2, reads
    if len(reads) == 2:
        assert GRANT_PROBE.match(reads[0]) and reads[1] in queries, reads  # the probe, then the query
    if connection.vendor == "postgresql":
        assert "FOR UPDATE" in reads[0] and alone == [], (reads, alone)
    else:
        assert not any("FOR UPDATE" in sql for sql in reads) and len(alone) == 1, (reads, alone)


# The grant probe (scopes.access.rows.grant_probe_sql): the grant's key and row versions.
GRANT_PROBE = re.compile(r"\s*SELECT src\.user_id, src\.tenant_id, src\.application_id, u\.row_version")
