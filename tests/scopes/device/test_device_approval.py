"""Issue 24, item 8: a device approval the tenant's app policy refuses cannot be forced through.

The device page used to check the policy only when the device later polled: a member could approve
(and write a consent for) an app the tenant had blocked or not yet approved. Now the page refuses
as the consent page does, and a forged Allow posted to it grants nothing: the device request is
answered `access_denied` (as the consent page answers a forged Allow), no consent is written, no
token is issued.
"""

from __future__ import annotations

import pytest

from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.models import AccessToken, Consent, DeviceGrant
from scopes.tenant_policy import services as policy
from tests.oauth import consent_form, device_app, device_page, device_poll, device_start

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


@pytest.mark.parametrize("case", ["blocked", "pending under approved-only"])
def test_a_forged_allow_on_a_refused_device_page_approves_nothing(world, browser_of, case):
    tv = device_app()
    if case == "blocked":
        policy.tenant_app_set(
            actor=world.owner_a, tenant=world.acme, application=tv, status=AppStatus.BLOCKED
        )
    else:
        policy.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)
        policy.tenant_app_set(
            actor=world.owner_a, tenant=world.acme, application=tv, status=AppStatus.PENDING
        )
    browser = browser_of(world.member_a)
    body = device_start("photos.read")
    page = device_page(browser, body["user_code"])
    assert "data-policy-refusal" in page and 'value="allow"' not in page
    # The page offers only "Back"; the attacker posts Allow with a tenant and a scope anyway.
    answer = browser.post("/o/device/approve/", consent_form(page, tenant="acme", scopes=["photos.read"]))
    assert answer.status_code == 200 and "is connected" not in answer.content.decode()
    assert DeviceGrant.objects.get(device_code=body["device_code"]).status == DeviceGrant.DENIED
    assert not Consent.objects.filter(application=tv).exists()
    assert device_poll(body["device_code"]).json()["error"] == "access_denied"
    assert not AccessToken.objects.filter(application=tv).exists()
