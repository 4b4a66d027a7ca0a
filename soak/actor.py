"""One soak client: a user of one tenant who signs in, consents, and then uses the API at random.

Every response goes through `send`, which counts it and checks that it is not a 5xx and does not
mention the other tenant. The operations check what they can predict: an acknowledged upload is
there (same bytes) until its owner deletes it, another tenant's ids are 404, a token is refused
once its revocation (or rotation, or narrowing) was answered.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Callable

import requests

from soak.ledger import Ledger
from soak.operations import Operations
from tests.oauth import authorize_params, code_request, consent_form, pkce_pair, query_params

ASKED = "photos.write albums.write profile.read offline_access"
IMPLIES = {
    "photos.write": {"photos.read", "photos.upload", "photos.update", "photos.delete"},
    "albums.write": {"albums.read"},
}
TIMEOUT = 15


def closure(scopes: str) -> set[str]:
    names = set(scopes.split())
    for name in list(names):
        names |= IMPLIES.get(name, set())
    return names


class Actor(Operations):
    """A signed-in user of one tenant, holding one access token (and refresh token) at a time."""

    def __init__(self, *, base: str, world: dict, user: dict, ledger: Ledger, seed: int) -> None:
        self.base = base
        self.world = world
        self.username: str = user["username"]
        self.tenant: str = user["tenant"]
        self.role: str = user["role"]
        self.other = "globex" if self.tenant == "acme" else "acme"
        self.ledger = ledger
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
        self.web = requests.Session()  # the browser: sign-in session, consent page, connected apps
        self.http = requests.Session()  # API and token endpoint: no cookies
        self.token = ""
        self.refresh_token = ""
        self.scopes: set[str] = set()
        self.albums: list[int] = []
        self.uploads = 0

    # --- plumbing

    def send(self, session: requests.Session, method: str, path: str, **kwargs) -> requests.Response:
        """One request, counted and checked; a 429 is waited out (Retry-After, bounded) and retried."""
        for _attempt in range(3):
            response = session.request(
                method, self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs
            )
            self.ledger.status(response.status_code)
            if response.status_code != 429:
                break
            time.sleep(min(float(response.headers.get("Retry-After") or 1), 5.0))
        self.ledger.check(
            "no_5xx",
            response.status_code < 500,
            f"{self.username}: {method} {path} -> {response.status_code} {response.text[:300]!r}",
        )
        kind = response.headers.get("Content-Type", "")
        if "json" in kind or "html" in kind:
            self.ledger.check(
                "no_other_tenant_in_answer",
                self.other.encode() not in response.content.lower(),
                f"{self.username}: {method} {path} mentions {self.other}: {response.text[:300]!r}",
            )
        return response

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        return self.send(self.http, method, f"/api/t/{self.tenant}/{path}", headers=headers, **kwargs)

    def csrf(self) -> str:
        return self.web.cookies.get("csrftoken", "")

    # --- signing in and getting tokens, as a browser and a client app would

    def sign_in(self) -> None:
        self.send(self.web, "GET", "/account/login/")
        response = self.send(
            self.web,
            "POST",
            "/account/login/",
            data={
                "username": self.username,
                "password": self.world["password"],
                "csrfmiddlewaretoken": self.csrf(),
            },
        )
        self.ledger.check("sign_in", response.status_code == 302, f"{self.username}: {response.status_code}")

    def authorize(self) -> bool:
        """The code flow with PKCE; consents to everything offered when the page is shown."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)
        client_id, redirect_uri = self.world["client_id"], self.world["redirect_uri"]
        params = authorize_params(
            client_id, ASKED, challenge, state=state, redirect_uri=redirect_uri, tenant=self.tenant
        )
        response = self.send(self.web, "GET", "/o/authorize/", params=params)
        if response.status_code == 302 and "/account/login/" in response.headers.get("Location", ""):
            self.sign_in()
            response = self.send(self.web, "GET", "/o/authorize/", params=params)
        if response.status_code == 200:
            form = {"csrfmiddlewaretoken": self.csrf(), **consent_form(response.text)}
            response = self.send(self.web, "POST", "/o/authorize/", data=form)
        location = response.headers.get("Location", "")
        answer = query_params(location)
        if not self.ledger.check(
            "authorization_flow",
            response.status_code == 302 and answer.get("state") == state and "code" in answer,
            f"{self.username}: {response.status_code} {location[:200]}",
        ):
            return False
        exchanged = self.send(
            self.http,
            "POST",
            "/o/token/",
            data=code_request(answer["code"], client_id, verifier, redirect_uri=redirect_uri),
        )
        if not self.ledger.check("authorization_flow", exchanged.status_code == 200, exchanged.text[:200]):
            return False
        self._hold(exchanged.json())
        self.ledger.event("tokens obtained through the consent flow")
        return True

    def _hold(self, token: dict) -> None:
        self.token = token["access_token"]
        self.refresh_token = token.get("refresh_token", "")
        self.scopes = closure(token["scope"])

    def refused_now(self, token: str, why: str) -> None:
        """`token` was revoked and the server said so: from now on it must never get a 2xx."""
        self.ledger.revoke(token, self.tenant)
        response = self.api("GET", "photos/", token=token)
        self.ledger.check(
            "revoked_token_refused", response.status_code == 401, f"{why}: {response.status_code}"
        )

    # --- the mix

    def run(self, deadline: float, max_operations: int = 50_000) -> None:
        operations: list[tuple[Callable[[], None], float]] = [
            (self.list_photos, 16),
            (self.read_photo, 14),
            (self.read_image, 10),
            (self.upload, 10),
            (self.update, 6),
            (self.delete, 5),
            (self.albums_mix, 8),
            (self.me, 4),
            (self.other_tenants_ids, 8),
            (self.probe_revoked, 4),
            (self.refresh, 3),
            (self.refresh_reuse, 0.7),
            (self.revoke, 1.5),
            (self.narrow, 1.2),
            (self.revoke_app, 0.4),
        ]
        functions, weights = zip(*operations, strict=True)
        # On a loaded machine the first sign-ins (password hashing) can outlast the client timeout:
        # try again rather than let the client die silently, and fail the run if it never starts.
        while True:
            try:
                self.sign_in()
                self.authorize()
                break
            except requests.RequestException as exc:
                self.ledger.event("start_retried")
                if time.monotonic() >= deadline:
                    self.ledger.check("client_started", False, f"{self.username}: {exc!r}")
                    return
        self.ledger.check("client_started", True)
        done = 0
        while time.monotonic() < deadline and done < max_operations:
            operation = self.rng.choices(functions, weights)[0]
            try:
                if not self.token:
                    self.authorize()
                else:
                    operation()
            except (requests.RequestException, ValueError, AttributeError, KeyError) as exc:
                self.ledger.check("client_error", False, f"{self.username}: {operation.__name__}: {exc!r}")
                self.token = ""
            done += 1

    def probe_revoked(self) -> None:
        mine = [token for token, tenant in self.ledger.revoked_tokens() if tenant == self.tenant]
        if mine:
            response = self.api("GET", "photos/", token=self.rng.choice(mine))
            self.ledger.check(
                "revoked_token_refused", response.status_code == 401, f"later: {response.status_code}"
            )

    def _refresh(self, refresh_token: str) -> requests.Response:
        return self.send(
            self.http,
            "POST",
            "/o/token/",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.world["client_id"],
            },
        )

    def refresh(self, *, reuse: bool = False) -> None:
        if not self.refresh_token:
            return
        old_access, old_refresh = self.token, self.refresh_token
        response = self._refresh(old_refresh)
        if not self.ledger.check("refresh_rotates", response.status_code == 200, response.text[:200]):
            self.token = ""
            return
        self._hold(response.json())
        self.ledger.event("refresh rotations")
        self.refused_now(old_access, "access token of a rotated refresh token")
        if reuse:
            replay = self._refresh(old_refresh)
            self.ledger.check("refresh_reuse_refused", replay.status_code == 400, f"{replay.status_code}")
            self.ledger.event("refresh token reuses (family revoked)")
            self.refused_now(self.token, "access token of a family revoked for reuse")
            again = self._refresh(self.refresh_token)
            self.ledger.check(
                "refresh_reuse_refused", again.status_code == 400, f"family member {again.status_code}"
            )
            self.token = ""

    def refresh_reuse(self) -> None:
        self.refresh(reuse=True)

    def revoke(self) -> None:
        old = self.token
        response = self.send(
            self.http, "POST", "/o/revoke_token/", data={"token": old, "client_id": self.world["client_id"]}
        )
        self.ledger.check("revocation_answered", response.status_code == 200, f"{response.status_code}")
        self.ledger.event("access token revocations (RFC 7009)")
        self.refused_now(old, "revoked through /o/revoke_token/")
        self.token = ""

    def _connected_app(self) -> tuple[str, list[str]] | None:
        page = self.send(self.web, "GET", "/account/apps/")
        if page.status_code != 200:
            self.sign_in()
            page = self.send(self.web, "GET", "/account/apps/")
        match = re.search(r'action="/account/apps/(\d+)/remove-scopes/"', page.text)
        if not match:
            return None
        return match.group(1), re.findall(r'name="scope" value="([^"]+)"', page.text)

    def narrow(self) -> None:
        """Take the photo scope back on the connected-apps page: the live token loses it at once."""
        found = self._connected_app()
        if found is None:
            return
        consent_id, scopes = found
        photo_scopes = [s for s in scopes if s.startswith("photos.")]
        if not photo_scopes:
            return
        response = self.send(
            self.web,
            "POST",
            f"/account/apps/{consent_id}/remove-scopes/",
            data={"scope": photo_scopes, "csrfmiddlewaretoken": self.csrf()},
        )
        self.ledger.check("narrowing_answered", response.status_code == 302, f"{response.status_code}")
        self.ledger.event("consent narrowings (connected-apps page)")
        probe = self.api("GET", "photos/")
        self.ledger.check(
            "narrowed_scope_refused",
            probe.status_code == 403 and probe.json().get("reason") == "scope_missing",
            f"{probe.status_code} {probe.text[:200]}",
        )
        self.token = ""  # authorize again: the page asks for the photo scopes anew

    def revoke_app(self) -> None:
        """Revoke the whole app on the connected-apps page: access and refresh tokens die at once."""
        found = self._connected_app()
        if found is None:
            return
        consent_id, _scopes = found
        old_access, old_refresh = self.token, self.refresh_token
        response = self.send(
            self.web, "POST", f"/account/apps/{consent_id}/revoke/", data={"csrfmiddlewaretoken": self.csrf()}
        )
        self.ledger.check("revocation_answered", response.status_code == 302, f"{response.status_code}")
        self.ledger.event("app revocations (connected-apps page)")
        self.refused_now(old_access, "access token of a revoked app")
        if old_refresh:
            replay = self._refresh(old_refresh)
            self.ledger.check(
                "revoked_token_refused", replay.status_code == 400, f"refresh {replay.status_code}"
            )
        self.token = ""
