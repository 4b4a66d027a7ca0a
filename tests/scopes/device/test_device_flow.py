"""The device authorization grant (RFC 8628) through our consent page, tenancy and standing."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from accounts.constants import RoleName
from scopes.models import AccessToken, Application, DeviceGrant
from scopes.roles.services import membership_set
from tests.factories import ApplicationFactory
from tests.oauth import (
    DEVICE,
    assert_standing_read_locks_the_consent,
    consent_form,
    device_app,
    device_authorization,
)
from tests.oauth import device_poll as poll

pytestmark = pytest.mark.django_db


@pytest.fixture
def tv(world):
    return device_app()


def start(client_id: str = "photo-frame", scope: str = "photos.read photos.delete offline_access"):
    return device_authorization(scope, client_id)


def approve(browser, user_code: str, *, ticks=None, decision: str = "allow"):
    entered = browser.post("/o/device/", {"user_code": user_code.lower().replace("-", " ")})
    assert entered.status_code == 302 and entered["Location"] == "/o/device/approve/", entered.content[:300]
    page = browser.get("/o/device/approve/")
    html = page.content.decode()
    return page, browser.post("/o/device/approve/", consent_form(html, scopes=ticks, decision=decision))


def test_metadata_names_the_device_endpoint(db):
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert data["device_authorization_endpoint"] == "http://testserver/o/device-authorization/"
    assert DEVICE in data["grant_types_supported"]


def test_guest_approves_and_the_polling_client_gets_a_role_capped_token(world, tv, browser_of):
    started = start()
    assert started.status_code == 200, started.content
    body = started.json()
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", body["user_code"])
    assert body["verification_uri"] == "http://testserver/o/device/"
    assert body["verification_uri_complete"].endswith(f"?user_code={body['user_code']}")
    assert body["interval"] == 5 and body["expires_in"] == 600
    assert poll(body["device_code"], wait=False).json()["error"] == "authorization_pending"
    assert poll(body["device_code"], wait=False).json()["error"] == "slow_down"
    assert DeviceGrant.objects.get(device_code=body["device_code"]).interval == 10

    page, done = approve(browser_of(world.guest_a), body["user_code"])
    assert "does not allow this: delete photos" in page.content.decode()  # greyed out, with the reason
    assert done.status_code == 200 and "is connected" in done.content.decode()

    token = poll(body["device_code"])
    assert token.status_code == 200, token.content
    tokens = token.json()
    assert tokens["scope"] == "offline_access photos.read" and "refresh_token" in tokens
    row = AccessToken.objects.get(token_checksum=hashlib.sha256(tokens["access_token"].encode()).hexdigest())
    assert row.tenant_id == world.acme.pk and row.user_id == world.guest_a.pk
    api = Client().get("/api/t/acme/photos/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.status_code == 200
    # The device code is single use.
    assert poll(body["device_code"]).json()["error"] == "invalid_grant"


def test_denied_and_expired_codes_give_the_rfc_8628_errors(world, tv, browser_of):
    denied = start().json()
    _page, done = approve(browser_of(world.member_a), denied["user_code"], decision="deny")
    assert "was not connected" in done.content.decode()
    assert poll(denied["device_code"]).json()["error"] == "access_denied"

    expired = start().json()
    DeviceGrant.objects.filter(device_code=expired["device_code"]).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    assert poll(expired["device_code"]).json()["error"] == "expired_token"
    # An expired code cannot be entered either (one answer for unknown, expired and used codes).
    refused = browser_of(world.member_a).post("/o/device/", {"user_code": expired["user_code"]})
    assert refused.status_code == 400


def test_nothing_ticked_is_access_denied(world, tv, browser_of):
    body = start().json()
    approve(browser_of(world.member_a), body["user_code"], ticks=[])
    assert poll(body["device_code"]).json()["error"] == "access_denied"


def test_another_clients_device_code_is_no_use(world, tv, browser_of):
    ApplicationFactory(client_id="other-tv", authorization_grant_type=Application.GRANT_DEVICE_CODE)
    body = start().json()
    approve(browser_of(world.member_a), body["user_code"])
    assert poll(body["device_code"], client_id="other-tv").json()["error"] == "invalid_grant"
    assert poll(body["device_code"]).status_code == 200


def test_a_role_lowered_after_approval_caps_the_token(world, tv, browser_of):
    body = start(scope="photos.read photos.upload").json()
    approve(browser_of(world.member_a), body["user_code"])
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    assert poll(body["device_code"]).json()["scope"] == "photos.read"


def test_membership_removed_after_approval_yields_nothing(world, tv, browser_of):
    body = start(scope="photos.read").json()
    approve(browser_of(world.member_a), body["user_code"])
    world.member_a.memberships.all().delete()
    assert poll(body["device_code"]).json()["error"] == "invalid_grant"


def test_guessing_user_codes_hits_the_limit(world, tv, browser_of):
    body = start().json()
    browser = browser_of(world.outsider)
    for guess in ["BBBB-BBBB", "CCCC-CCCC", "nonsense", "DDDD-DDDD", "FFFF-FFFF"]:
        assert browser.post("/o/device/", {"user_code": guess}).status_code == 400
    limited = browser.post("/o/device/", {"user_code": body["user_code"]})  # even the right one
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert DeviceGrant.objects.get(device_code=body["device_code"]).user_id is None
    assert poll(body["device_code"]).json()["error"] == "authorization_pending"


def test_scope_and_grant_type_are_checked_at_the_start(world, tv, gallery):
    assert start(scope="photos.read no.such.scope").json()["error"] == "invalid_scope"
    assert start(scope="").json()["error"] == "invalid_scope"
    assert start(client_id=gallery.client_id, scope="photos.read").json()["error"] == "unauthorized_client"
    assert start(client_id="nobody").status_code in (400, 401)
    assert not DeviceGrant.objects.exists()


def test_a_confidential_client_polls_with_its_secret(world, tv):
    tv.client_type = Application.CLIENT_CONFIDENTIAL
    tv.client_secret = "s3cret-of-the-tv"
    tv.save()
    started = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": "photo-frame", "client_secret": "s3cret-of-the-tv", "scope": "photos.read"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert started.status_code == 200, started.content
    code = started.json()["device_code"]
    wrong = Client().post(
        "/o/token/",
        {"grant_type": DEVICE, "device_code": code, "client_id": "photo-frame", "client_secret": "nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    right = Client().post(
        "/o/token/",
        {
            "grant_type": DEVICE,
            "device_code": code,
            "client_id": "photo-frame",
            "client_secret": "s3cret-of-the-tv",
        },
    )
    assert right.json()["error"] == "authorization_pending"


def test_polling_is_not_counted_as_guessing_a_secret(world, tv, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token-ip": (3, 60)}
    code = start().json()["device_code"]
    for _ in range(5):
        assert poll(code).json()["error"] == "authorization_pending"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded;charset=UTF-8",  # node's fetch, browsers
        "application/x-www-form-urlencoded; charset=utf-8",
        'application/x-www-form-urlencoded; charset="UTF-8"',
    ],
)
def test_every_form_endpoint_accepts_a_charset_parameter(world, tv, content_type):
    """Issue 24, 11b: oauthlib compared the device endpoint's Content-Type for equality."""
    started = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": "photo-frame", "scope": "photos.read"}),
        content_type=content_type,
    )
    assert started.status_code == 200, started.content
    code = started.json()["device_code"]
    polled = Client().post(
        "/o/token/",
        urlencode({"grant_type": DEVICE, "device_code": code, "client_id": "photo-frame"}),
        content_type=content_type,
    )
    assert polled.json()["error"] == "authorization_pending"
    revoked = Client().post(
        "/o/revoke_token/",
        urlencode({"token": "unknown", "client_id": "photo-frame"}),
        content_type=content_type,
    )
    assert revoked.status_code == 200, revoked.content


def test_a_form_in_another_charset_is_still_refused_by_the_device_endpoint(world, tv):
    started = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": "photo-frame", "scope": "photos.read"}),
        content_type="application/x-www-form-urlencoded; charset=ISO-8859-1",
    )
    assert started.status_code == 400 and started.json()["error"] == "invalid_request"
    assert not DeviceGrant.objects.exists()


def test_the_devices_tokens_remember_the_approving_sessions_sign_in(world, tv, browser_of):
    from accounts import authn

    body = start(scope="photos.read").json()
    browser = browser_of(world.member_a)
    session = browser.session
    authn.record(session, acr=authn.MFA, amr=["pwd", "otp", "mfa"])
    session.save()
    approve(browser, body["user_code"])
    tokens = poll(body["device_code"]).json()
    row = AccessToken.objects.get(token_checksum=hashlib.sha256(tokens["access_token"].encode()).hexdigest())
    assert (row.acr, row.amr) == ("mfa", "pwd otp mfa")
    assert row.auth_time is not None and timezone.now() - row.auth_time < timedelta(minutes=1)


def test_the_device_grant_locks_its_consent_in_its_standing_read(world, tv, browser_of):
    """As the other grants do (tests/scopes/oauth/test_token_endpoint_cost.py): one standing read,
    which on PostgreSQL also locks the consent until the token is written."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = start(scope="photos.read").json()
    approve(browser_of(world.member_a), body["user_code"])
    with CaptureQueriesContext(connection) as captured:
        answer = poll(body["device_code"])
    assert answer.status_code == 200, answer.content
    assert_standing_read_locks_the_consent(captured)
