"""Third-party OpenID Connect relying parties against the live server.

Two strict clients, neither written by us: panva's `oauth4webapi` (npm, pinned in
tests/oidc_rp/package-lock.json, installed by `.ci/run` with `npm ci`) and Python's `authlib`.
Each does discovery, the code flow with PKCE and a nonce, validates the ID token (signature from
the JWKS, then the claims), calls userinfo and refreshes. The user signs in and consents through
the real pages, over HTTP, as a browser would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import authlib.deprecate  # noqa: F401  (it sets its warnings to "always" when first imported)
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

with warnings.catch_warnings():
    # authlib points to joserfc for new code; its own OIDC claims classes still build on authlib.jose.
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken

from accounts.constants import RoleName
from scopes.roles.services import membership_set
from tests.oauth import REDIRECT_URI, consent_form

pytestmark = pytest.mark.django_db(transaction=True)

RP_DIR = Path(__file__).resolve().parents[1] / "oidc_rp"
SCOPE = "openid profile email offline_access"


def sign_in_and_consent(base_url: str, authorization_url: str, username: str) -> str:
    """What the user does in a browser: sign in, tick what the page offers, allow. The callback URL."""
    browser = requests.Session()
    page = browser.get(authorization_url, timeout=10)
    assert "/account/login/" in page.url, page.url
    page = browser.post(
        page.url,
        data={
            "username": username,
            "password": "pw",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "next": re.search(r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&"),
        },
        headers={"Referer": page.url},
        timeout=10,
        allow_redirects=False,
    )
    assert page.status_code == 302, page.text[:300]
    page = browser.get(urljoin(base_url, page.headers["Location"]), timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    answer = browser.post(
        urljoin(base_url, "/o/authorize/"),
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], **consent_form(page.text)},
        headers={"Referer": page.url},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["Location"].startswith(REDIRECT_URI), answer.text[:300]
    return answer.headers["Location"]


@pytest.fixture
def rp_node() -> Path:
    """The npm relying party, installed from its lock file (CI runs `npm ci` before the suite)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (apt-get install -y nodejs npm); .ci/run installs them")
    if not (RP_DIR / "node_modules" / "oauth4webapi").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RP_DIR, check=True, timeout=300)
    return RP_DIR


def expected_claims(world, user) -> dict:
    return {"sub": str(user.pk), "tenant": {"id": world.acme.pk, "slug": "acme"}}


def test_oauth4webapi_discovery_code_pkce_nonce_id_token_userinfo_refresh(
    live_server, world, gallery, rp_node
):
    process = subprocess.Popen(
        ["node", "rp.mjs", live_server.url, gallery.client_id, REDIRECT_URI, SCOPE],
        cwd=rp_node,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        first = json.loads(process.stdout.readline() or "{}")
        assert "authorization_url" in first, process.stderr.read() if process.stderr else ""
        callback = sign_in_and_consent(live_server.url, first["authorization_url"], "guest_a")
        out, err = process.communicate(callback + "\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    claims = result["id_token_claims"]
    assert claims["iss"] == live_server.url
    assert claims["aud"] == gallery.client_id
    assert claims.items() >= {**expected_claims(world, world.guest_a), "role": "Guest"}.items()
    assert result["userinfo"]["role"] == "Guest"
    assert result["userinfo"]["email"] == world.guest_a.email
    assert set(result["refreshed_scope"].split()) == set(SCOPE.split())
    assert result["refreshed_id_token_claims"]["sub"] == str(world.guest_a.pk)


def test_authlib_discovery_code_pkce_nonce_id_token_userinfo_refresh(live_server, world, gallery):
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == live_server.url
    session = OAuth2Session(
        client_id=gallery.client_id,
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = "v" * 64
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], nonce="authlib-nonce", code_verifier=verifier
    )
    callback = sign_in_and_consent(live_server.url, url, "member_a")
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
    )
    jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"values": [metadata["issuer"]]}},
        claims_params={
            "nonce": "authlib-nonce",
            "client_id": gallery.client_id,
            "access_token": token["access_token"],
        },
    )
    claims.validate()  # iss, aud, exp, iat, nonce, at_hash
    assert claims["role"] == "Member" and claims["tenant"] == expected_claims(world, world.member_a)["tenant"]

    info = session.get(metadata["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["role"] == "Member"
    # A role change shows in userinfo at once, with the same token.
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=world.role(RoleName.ADMIN))
    assert session.get(metadata["userinfo_endpoint"]).json()["role"] == "Admin"

    refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    new_claims = jwt.decode(
        refreshed["id_token"], jwks, claims_options={"iss": {"values": [metadata["issuer"]]}}
    )
    new_claims.validate()
    assert new_claims["role"] == "Admin" and new_claims["sub"] == claims["sub"]

    # Deactivated: userinfo refuses the token, as the API does.
    world.member_a.is_active = False
    world.member_a.save(update_fields=["is_active"])
    refused = session.get(metadata["userinfo_endpoint"])
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def run_strict(rp_node: Path, *args: str, callback_of=None) -> dict:
    """Run tests/oidc_rp/strict.mjs; `callback_of(authorization_url)` plays the browser."""
    process = subprocess.Popen(
        ["node", "strict.mjs", *args],
        cwd=rp_node,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        if callback_of is not None:
            first = json.loads(process.stdout.readline() or "{}")
            assert "authorization_url" in first, process.stderr.read() if process.stderr else ""
            out, err = process.communicate(callback_of(first["authorization_url"]) + "\n", timeout=60)
        else:
            out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def signed_out_browser(authorization_url: str) -> str:
    answer = requests.get(authorization_url, timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["Location"].startswith(REDIRECT_URI), answer.text[:300]
    return answer.headers["Location"]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [("openid photos.read", "login_required"), ("openid no.such.scope", "invalid_scope")],
)
def test_oauth4webapi_accepts_error_responses_because_they_carry_iss(
    live_server, world, gallery, rp_node, scope, expected
):
    """Issue 24, 11a: oauth4webapi refused error responses without `iss` ("iss missing")."""
    result = run_strict(
        rp_node,
        "authorize",
        live_server.url,
        gallery.client_id,
        REDIRECT_URI,
        scope,
        json.dumps({"prompt": "none"}),
        callback_of=signed_out_browser,
    )
    assert result == {"outcome": "server_error", "error": expected}


def test_node_fetch_and_oauth4webapi_start_the_device_flow_with_a_charset(live_server, world, rp_node):
    """Issue 24, 11b: `Content-Type: application/x-www-form-urlencoded;charset=UTF-8` was refused."""
    from scopes.models import Application, ApplicationScope, Scope
    from tests.factories import ApplicationFactory

    app = ApplicationFactory(
        name="Frame", client_id="strict-frame", authorization_grant_type=Application.GRANT_DEVICE_CODE
    )
    ApplicationScope.objects.create(
        application=app, scope=Scope.objects.get(name="photos.read"), reason="to show"
    )
    result = run_strict(rp_node, "device", live_server.url, app.client_id, "photos.read")
    assert result["library_user_code"]
    assert result["fetch_status"] == 200, result["fetch_body"]
    assert result["fetch_body"]["user_code"]


def without_iss(callback: str) -> str:
    parts = urlsplit(callback)
    return urlunsplit(parts._replace(query=urlencode([p for p in parse_qsl(parts.query) if p[0] != "iss"])))


def with_iss(callback: str, value: str) -> str:
    parts = urlsplit(callback)
    kept = [p for p in parse_qsl(parts.query) if p[0] != "iss"]
    return urlunsplit(parts._replace(query=urlencode([*kept, ("iss", value)])))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda callback: callback, {"outcome": "success"}),
        (without_iss, {"outcome": "client_refused", "message": 'response parameter "iss" (issuer) missing'}),
        (
            lambda callback: with_iss(callback, "https://other-server.example"),
            {"outcome": "client_refused", "message": 'unexpected "iss" (issuer) response parameter value'},
        ),
    ],
    ids=["as sent", "iss removed", "another issuer"],
)
def test_oauth4webapi_validates_iss_on_the_authorization_response(
    live_server, world, gallery, rp_node, tamper, expected
):
    """RFC 9207: oauth4webapi checks `iss` because our metadata advertises
    `authorization_response_iss_parameter_supported`; without the flag it would accept a response
    with no `iss` (a mix-up attacker's). The answer as sent passes; a stripped or foreign `iss` is
    refused by the library before any code is exchanged."""
    result = run_strict(
        rp_node,
        "authorize",
        live_server.url,
        gallery.client_id,
        REDIRECT_URI,
        "openid photos.read",
        "{}",
        callback_of=lambda url: tamper(sign_in_and_consent(live_server.url, url, "member_a")),
    )
    assert result == expected


def test_oauth4webapi_refuses_an_error_response_without_iss(live_server, world, gallery, rp_node):
    """The error path is checked too: an `access_denied` with its `iss` stripped is refused as a
    response, not believed as the server's error."""
    result = run_strict(
        rp_node,
        "authorize",
        live_server.url,
        gallery.client_id,
        REDIRECT_URI,
        "openid photos.read",
        json.dumps({"prompt": "none"}),
        callback_of=lambda url: without_iss(signed_out_browser(url)),
    )
    assert result == {"outcome": "client_refused", "message": 'response parameter "iss" (issuer) missing'}
