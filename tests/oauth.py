"""Drive the real authorization-code + PKCE flow through the Django test client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlparse

from django.test import Client

REDIRECT_URI = "http://127.0.0.1:8765/callback"
GRANT_SCOPES = "photos.write profile.read offline_access"
RS_SECRET = "agreement-resource-server"  # the photo API's secret as a resource server (tests/scopes/access/conftest.py)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


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
        return {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **self.extra,
        }

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
        html = page.content.decode()
        token = re.search(r'name="request_token" value="([^"]+)"', html).group(1)
        shown_tenant = re.search(r'name="tenant" value="([^"]+)"', html)
        if scopes is None:
            scopes = re.findall(r'name="scope" value="([^"]+)"', html)
        data = {
            "request_token": token,
            "tenant": tenant or (shown_tenant.group(1) if shown_tenant else ""),
            "scope": scopes,
            "decision": decision,
        }
        if albums is not None:
            data["album"] = [str(a) for a in albums]
        return self.client.post("/o/authorize/", data)

    def authorize(self, **consent_kwargs):
        """Start, and consent if a page is shown (remembered consent answers without one)."""
        page = self.start()
        return page if page.status_code == 302 else self.consent(page, **consent_kwargs)

    @staticmethod
    def redirect_params(response) -> dict[str, str]:
        assert response.status_code == 302, response.content[:500]
        location = response["Location"]
        assert location.startswith(REDIRECT_URI), location
        return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}

    def exchange(self, response, *, verifier: str | None = None, client_id: str | None = None):
        """Trade the code in a redirect for tokens at the token endpoint."""
        code = self.redirect_params(response)["code"]
        return Client().post(
            "/o/token/",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id or self.client_id,
                "code_verifier": verifier or self.verifier,
            },
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
