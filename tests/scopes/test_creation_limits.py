"""Issue 24, item 4: rows created on a user's (or a public client's) word are capped and rate limited.

The audit filed 15 access requests in a row with 900-character messages, all accepted and
audited. Every endpoint that creates rows on someone's word now has a cap in its service (how
many may exist at once) and a rate limit at the endpoint (every attempt counts); past either, the
answer says why (a form error, or 429 with Retry-After) and nothing changes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts.constants import RoleName
from scopes.machines.services import personal_token_create, service_account_create
from scopes.models import Application, ApplicationScope, DeviceGrant, Scope
from scopes.tenant_policy import services as policy_services
from scopes.tenant_policy.models import AccessRequest
from tests.factories import ApplicationFactory
from tests.oauth import Flow

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

# Distinct requests (the service returns an identical pending one instead of filing it twice).
ASKS = ["photos.read", "photos.upload", "photos.delete", "albums.read", "albums.write", "photos.update"]


@pytest.fixture
def caps(settings):
    def set_caps(**overrides: int) -> None:
        settings.CREATION_CAPS = {
            **settings.CREATION_CAPS,
            **{name.replace("_", "-"): cap for name, cap in overrides.items()},
        }

    return set_caps


@pytest.fixture
def rates(settings):
    def set_rates(**overrides: tuple[int, int]) -> None:
        settings.RATE_LIMITS = {
            **settings.RATE_LIMITS,
            **{name.replace("_", "-"): rate for name, rate in overrides.items()},
        }

    return set_rates


def _ask(client: Client, scope: str, message: str = "please"):
    return client.post(
        "/account/requests/new/", {"tenant": "acme", "kind": "scope", "scope": scope, "message": message}
    )


# --- Access requests


def test_pending_access_requests_are_capped_per_member(world, browser_of, caps, unchanged):
    caps(access_requests_pending=3)
    member = browser_of(world.member_a)
    for scope in ASKS[:3]:
        assert _ask(member, scope).status_code == 302
    with unchanged():
        refused = _ask(member, ASKS[3])
    assert refused.status_code == 400
    assert "already have 3 requests waiting in Acme" in refused.content.decode()
    # Another member of the tenant is not held back by this one's requests.
    assert _ask(browser_of(world.member2_a), ASKS[3]).status_code == 302


def test_the_cap_is_the_services_whoever_calls_it(world, caps, unchanged):
    caps(access_requests_pending=1)
    policy_services.access_request_file(
        requester=world.member_a, tenant=world.acme, kind="scope", scopes=[ASKS[0]]
    )
    with unchanged(), pytest.raises(ValidationError) as refused:
        policy_services.access_request_file(
            requester=world.member_a, tenant=world.acme, kind="scope", scopes=[ASKS[1]]
        )
    assert refused.value.code == "too_many_pending"


def test_a_message_past_the_documented_maximum_is_refused(world, browser_of, unchanged):
    member = browser_of(world.member_a)
    with unchanged():
        refused = _ask(member, ASKS[0], message="x" * (policy_services.MESSAGE_LIMIT + 1))
    assert refused.status_code == 400 and "The message is too long." in refused.content.decode()
    assert policy_services.MESSAGE_LIMIT == 500
    assert _ask(member, ASKS[0], message="x" * policy_services.MESSAGE_LIMIT).status_code == 302


def test_filing_requests_is_rate_limited_per_person(world, browser_of, rates, unchanged):
    rates(access_request_user=(2, 3600))
    member = browser_of(world.member_a)
    assert _ask(member, ASKS[0]).status_code == 302
    assert _ask(member, ASKS[1], message="x" * 900).status_code == 400  # a refused attempt counts too
    with unchanged():
        refused = _ask(member, ASKS[2])
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many requests. Try again in" in refused.content.decode()
    assert AccessRequest.all_tenants.count() == 1


# --- Personal access tokens


def _make_token(client: Client, name: str):
    return client.post(
        "/account/tokens/", {"tenant": "acme", "name": name, "scope": ["photos.read"], "days": "7"}
    )


def test_personal_tokens_are_capped_per_person_and_tenant(world, browser_of, caps, unchanged):
    caps(personal_tokens=2)
    member = browser_of(world.member_a)
    assert _make_token(member, "one").status_code == 200
    assert _make_token(member, "two").status_code == 200
    with unchanged():
        refused = _make_token(member, "three")
    assert refused.status_code == 400
    assert "already have 2 personal access tokens in Acme: revoke one first" in refused.content.decode()
    with unchanged(), pytest.raises(ValidationError) as by_service:
        personal_token_create(
            actor=world.member_a, tenant=world.acme, name="x", scopes=["photos.read"], days=1
        )
    assert by_service.value.code == "too_many"


def test_making_personal_tokens_is_rate_limited(world, browser_of, rates, unchanged):
    rates(personal_token_user=(1, 3600))
    member = browser_of(world.member_a)
    assert _make_token(member, "one").status_code == 200
    with unchanged():
        refused = _make_token(member, "two")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "Too many requests" in refused.content.decode()


# --- Device codes (anyone holding a public client id can ask)


@pytest.fixture
def tv(world):
    app = ApplicationFactory(client_id="frame", authorization_grant_type=Application.GRANT_DEVICE_CODE)
    ApplicationScope.objects.create(application=app, scope=Scope.objects.get(name="photos.read"))
    return app


def _start(ip: str = "198.51.100.7"):
    return Client(REMOTE_ADDR=ip).post(
        "/o/device-authorization/",
        urlencode({"client_id": "frame", "scope": "photos.read"}),
        content_type="application/x-www-form-urlencoded",
    )


def test_device_authorizations_are_rate_limited_per_client_and_address(tv, rates, unchanged):
    rates(device_start_ip=(2, 600), device_start_client=(3, 600))
    assert _start().status_code == 200 and _start().status_code == 200
    with unchanged():
        refused = _start()
    assert refused.status_code == 429 and refused.json()["error"] == "temporarily_unavailable"
    assert int(refused["Retry-After"]) >= 1
    assert _start(ip="198.51.100.8").status_code == 200  # another address: the client's third
    with unchanged():
        assert _start(ip="198.51.100.9").status_code == 429  # the client's limit, from any address


def test_pending_device_grants_are_capped_per_client(tv, caps, unchanged):
    caps(device_grants_pending=2)
    assert _start().status_code == 200 and _start().status_code == 200
    with unchanged():
        refused = _start()
    assert refused.status_code == 429
    assert "Too many pending device authorizations" in refused.json()["error_description"]
    DeviceGrant.objects.update(expires=timezone.now() - timedelta(seconds=1))  # expired: no longer count
    assert _start().status_code == 200


# --- Consent answers (each uses up a form and may write a consent)


def test_consent_answers_are_rate_limited_per_person(world, gallery, browser_of, rates, unchanged):
    rates(consent_user=(1, 600))
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    assert first.consent(first.start()).status_code == 302
    second = Flow(browser, gallery.client_id, "photos.delete")
    page = second.start()
    with unchanged():
        refused = second.consent(page)
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "Too many requests" in refused.content.decode()


# --- Service accounts (tenant administrators, in the admin)


def test_service_accounts_are_capped_per_tenant(world, caps, unchanged):
    caps(service_accounts=1)
    role = world.role(RoleName.GUEST)
    service_account_create(
        actor=world.admin_a, tenant=world.acme, name="one", role=role, scopes=["photos.read"]
    )
    with unchanged(), pytest.raises(ValidationError) as refused:
        service_account_create(
            actor=world.admin_a, tenant=world.acme, name="two", role=role, scopes=["photos.read"]
        )
    assert refused.value.code == "too_many"
    assert re.search(r"Acme already has 1 service accounts", refused.value.messages[0])


# --- Class hunt: client-credentials tokens (a token row per request, on the client's word)


def _client_credentials(client_id: str, secret: str):
    import base64

    auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Client().post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=auth)


def test_client_credentials_tokens_are_rate_limited_per_client(world, rates, unchanged):
    rates(token_issue_client=(2, 3600))
    account, secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="importer",
        role=world.role(RoleName.GUEST),
        scopes=["photos.read"],
    )
    client_id = account.application.client_id
    for _ in range(3):  # a wrong secret never uses up the account's allowance
        assert _client_credentials(client_id, "wrong").status_code == 401
    assert _client_credentials(client_id, secret).status_code == 200
    assert _client_credentials(client_id, secret).status_code == 200
    with unchanged():
        refused = _client_credentials(client_id, secret)
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "Too many tokens issued to this client" in refused.json()["error_description"]
