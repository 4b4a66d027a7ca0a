"""OpenID Connect through our consent, tenancy and standing (scopes/oidc).

ID tokens are checked as a relying party would: signature against the published JWKS, then the
claims. Userinfo is judged by the standing at request time, like the API.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from base64 import urlsafe_b64encode
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from jwcrypto import jwk, jwt

from accounts import authn
from accounts.constants import RoleName
from accounts.models import Membership
from scopes.models import IDToken
from scopes.oidc import keys
from scopes.roles.services import membership_set
from tests.oauth import Flow, refresh

pytestmark = pytest.mark.django_db

ISSUER = "http://testserver"


def verify(id_token: str, client: Client | None = None) -> dict:
    """The ID token's claims, after checking its signature against the JWKS endpoint's keys."""
    key_set = jwk.JWKSet.from_json((client or Client()).get("/o/.well-known/jwks.json").content)
    token = jwt.JWT(jwt=id_token, key=key_set, algs=["RS256"])
    return json.loads(token.claims)


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def sign_in_with_openid(browser, gallery, scope: str = "openid profile email offline_access", **extra):
    flow = Flow(browser, gallery.client_id, scope, extra={"nonce": "n-0S6_WzA2Mj", **extra})
    response = flow.exchange(flow.authorize())
    assert response.status_code == 200, response.content
    return response.json()


def userinfo(access_token: str):
    return Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}")


def test_guest_id_token_carries_tenant_and_role(world, gallery, browser_of):
    tokens = sign_in_with_openid(browser_of(world.guest_a), gallery)
    claims = verify(tokens["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == str(world.guest_a.pk)
    assert claims["aud"] == gallery.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert claims["tenant"] == {"id": world.acme.pk, "slug": "acme"}
    assert claims["role"] == "Guest"
    assert claims["preferred_username"] == "guest_a"
    assert claims["exp"] > claims["iat"] >= claims["auth_time"] - 1
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "offline_access"}


def test_openid_alone_discloses_only_who_and_where(world, gallery, browser_of):
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery, scope="openid")
    claims = verify(tokens["id_token"])
    assert "email" not in claims and "preferred_username" not in claims
    info = userinfo(tokens["access_token"]).json()
    assert info == {
        "sub": str(world.member_a.pk),
        "tenant": {"id": world.acme.pk, "slug": "acme"},
        "role": "Member",
    }


def test_no_id_token_without_openid(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    body = flow.exchange(flow.authorize()).json()
    assert "id_token" not in body
    assert userinfo(body["access_token"]).status_code == 403


def test_userinfo_shows_a_role_change_at_once(world, gallery, browser_of):
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery)
    first = userinfo(tokens["access_token"])
    assert first.status_code == 200
    assert first.json()["role"] == "Member"
    assert first.json()["email"] == world.member_a.email
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=world.role(RoleName.ADMIN))
    assert userinfo(tokens["access_token"]).json()["role"] == "Admin"
    # Also when the change comes from a plain update(), which sends no signal.
    Membership.objects.filter(user=world.member_a, tenant=world.acme).update(role=world.role(RoleName.GUEST))
    assert userinfo(tokens["access_token"]).json()["role"] == "Guest"


def test_userinfo_refuses_a_token_that_no_longer_stands(world, gallery, browser_of):
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery)
    assert userinfo(tokens["access_token"]).status_code == 200
    world.member_a.is_active = False
    world.member_a.save(update_fields=["is_active"])
    refused = userinfo(tokens["access_token"])
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused["WWW-Authenticate"]
    assert refused.json()["reason"] == "invalid_token"
    # The API refuses the same token the same way.
    api = Client().get("/api/t/acme/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.status_code == 401


@pytest.mark.parametrize("change", ["membership_removed", "tenant_inactive", "consent_revoked"])
def test_userinfo_refuses_every_standing_problem(world, gallery, browser_of, change):
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery)
    if change == "membership_removed":
        Membership.objects.filter(user=world.member_a).delete()
    elif change == "tenant_inactive":
        type(world.acme).objects.filter(pk=world.acme.pk).update(is_active=False)
    else:
        world.member_a.consents.all().delete()
    assert userinfo(tokens["access_token"]).status_code == 401


def test_userinfo_without_a_token_or_with_junk(db):
    assert Client().get("/o/userinfo/").status_code == 401
    junk = Client().get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer made-up")
    assert junk.status_code == 401 and 'error="invalid_token"' in junk["WWW-Authenticate"]


def test_refresh_brings_a_new_id_token_with_the_current_role(world, gallery, browser_of):
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery)
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    refreshed = refresh(gallery.client_id, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    claims = verify(refreshed.json()["id_token"])
    assert claims["role"] == "Guest" and claims["sub"] == str(world.member_a.pk)


def test_discovery_documents_agree(db):
    oidc = Client().get("/.well-known/openid-configuration").json()
    oauth = Client().get("/.well-known/oauth-authorization-server").json()
    assert oidc == oauth
    assert oidc["issuer"] == ISSUER
    assert oidc["authorization_endpoint"] == f"{ISSUER}/o/authorize/"
    assert oidc["token_endpoint"] == f"{ISSUER}/o/token/"
    assert oidc["userinfo_endpoint"] == f"{ISSUER}/o/userinfo/"
    assert oidc["jwks_uri"] == f"{ISSUER}/o/.well-known/jwks.json"
    assert oidc["end_session_endpoint"] == f"{ISSUER}/o/logout/"
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert oidc["scope_implications"]["photos.write"]
    assert {"openid", "profile", "email"} <= set(oidc["scopes_supported"])
    assert oidc["code_challenge_methods_supported"] == ["S256"]


def test_prompt_none_with_openid(world, gallery, browser_of):
    signed_out = Flow(Client(), gallery.client_id, "openid", extra={"prompt": "none"})
    assert Flow.redirect_params(signed_out.start())["error"] == "login_required"
    no_consent = Flow(browser_of(world.member_a), gallery.client_id, "openid", extra={"prompt": "none"})
    assert Flow.redirect_params(no_consent.start())["error"] == "consent_required"
    browser = browser_of(world.member_a)
    sign_in_with_openid(browser, gallery, scope="openid")
    again = Flow(browser, gallery.client_id, "openid", extra={"prompt": "none"})
    assert "id_token" in again.exchange(again.start()).json()


def test_max_age_too_old_signs_the_user_in_again(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    # This session's own sign-in (accounts.authn) was two hours ago; another browser's sign-in since
    # (the account's last_login) does not make this one recent.
    session = browser.session
    session[authn.SESSION_KEY]["auth_time"] -= 7200
    session.save()
    silent = Flow(browser, gallery.client_id, "openid", extra={"prompt": "none", "max_age": "60"})
    assert Flow.redirect_params(silent.start())["error"] == "login_required"
    flow = Flow(browser, gallery.client_id, "openid", extra={"max_age": "60", "login_hint": "member_a"})
    response = flow.start()
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")
    assert "login_hint=member_a" in response["Location"] and "max_age" not in response["Location"]
    page = browser.get(response["Location"])
    assert 'value="member_a"' in page.content.decode()
    bad = Flow(browser_of(world.member_a), gallery.client_id, "openid", extra={"max_age": "soon"})
    assert Flow.redirect_params(bad.start())["error"] == "invalid_request"


def test_recent_sign_in_passes_max_age_and_auth_time_says_when(world, gallery, browser_of):
    type(world.member_a).objects.filter(pk=world.member_a.pk).update(last_login=timezone.now())
    tokens = sign_in_with_openid(browser_of(world.member_a), gallery, scope="openid", max_age="600")
    claims = verify(tokens["id_token"])
    assert abs(claims["auth_time"] - int(timezone.now().timestamp())) < 60


def test_login_hint_fills_in_the_sign_in_page(world, gallery):
    flow = Flow(Client(), gallery.client_id, "openid", extra={"login_hint": "guest_a"})
    response = flow.start()
    assert response.status_code == 302 and "login_hint=guest_a" in response["Location"]
    page = Client().get(response["Location"])
    assert 'value="guest_a"' in page.content.decode()


def test_rp_initiated_logout_ends_the_session_and_returns_to_the_app(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    tokens = sign_in_with_openid(browser, gallery, scope="openid")
    gallery.post_logout_redirect_uris = "http://127.0.0.1:8765/signed-out"
    gallery.save()
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "http://127.0.0.1:8765/signed-out",
        "state": "s1",
    }
    page = browser.get("/o/logout/", params)
    assert page.status_code == 200 and "Sign out" in page.content.decode()
    done = browser.post("/o/logout/", {**params, "client_id": gallery.client_id, "allow": "true"})
    assert done.status_code == 302 and done["Location"] == "http://127.0.0.1:8765/signed-out?state=s1"
    assert browser.get("/account/apps/").status_code == 302  # signed out
    assert userinfo(tokens["access_token"]).status_code == 200  # the app keeps what was granted
    unknown = browser.get("/o/logout/", {**params, "post_logout_redirect_uri": "https://evil.example/"})
    assert unknown.status_code != 302


def test_openid_is_refused_without_a_signing_key(world, gallery, browser_of, tmp_path):
    with override_settings(OIDC_KEY_DIR=str(tmp_path / "none")):
        flow = Flow(browser_of(world.member_a), gallery.client_id, "openid")
        assert Flow.redirect_params(flow.start())["error"] == "invalid_scope"


def test_rotation_keeps_the_old_public_key_until_its_tokens_expire(world, gallery, browser_of, tmp_path):
    directory = tmp_path / "keys"
    with override_settings(OIDC_KEY_DIR=str(directory)):
        call_command("rotate_oidc_key", stdout=io.StringIO())
        assert oct(os.stat(next(directory.iterdir())).st_mode & 0o777) == "0o600"
        call_command("rotate_oidc_key", "--if-empty", stdout=io.StringIO())
        assert len(list(directory.iterdir())) == 1
        old = sign_in_with_openid(browser_of(world.member_a), gallery, scope="openid")["id_token"]
        call_command("rotate_oidc_key", stdout=io.StringIO())
        new = sign_in_with_openid(browser_of(world.member2_a), gallery, scope="openid")["id_token"]
        kids = [k["kid"] for k in Client().get("/o/.well-known/jwks.json").json()["keys"]]
        assert len(kids) == 2
        assert verify(old)["sub"] == str(world.member_a.pk)  # still verifiable
        assert verify(new)["sub"] == str(world.member2_a.pk)
        # Once the old key's last ID token has expired, the command deletes it.
        stored = keys.stored_keys(directory)
        later = stored[-1].made + keys.id_token_lifetime() + timedelta(seconds=1)
        assert not keys.still_published(stored[0], later)
        # Move both keys to the year 2000: the first was retired then; the second retires now.
        for stored_key, stamp in zip(stored, ["20000101T000000Z", "20000101T000100Z"], strict=True):
            path = stored_key.path
            os.rename(path, path.with_name(f"{stamp}-{path.name.split('-', 1)[1]}"))
        out = io.StringIO()
        call_command("rotate_oidc_key", stdout=out)
        assert "Deleted" in out.getvalue()
        assert len(Client().get("/o/.well-known/jwks.json").json()["keys"]) == 2  # the last two
    assert IDToken.objects.count() == 2


def test_userinfo_without_openid_names_the_scope_to_ask_for_as_the_api_does(world, gallery, browser_of):
    """The same RFC 6750 challenge as the API's 403 (scopes.access.challenges): the scope alone, and
    how to keep what the token has (incremental authorization)."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    answer = userinfo(flow.exchange(flow.authorize()).json()["access_token"])
    assert answer.status_code == 403 and answer.json()["reason"] == "scope_missing"
    challenge = answer["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="userinfo", error="insufficient_scope", scope="openid", ')
    assert "include_granted_scopes=true" in challenge and "resource_metadata=" in challenge
