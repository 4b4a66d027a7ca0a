"""Issue 24, item 7: a scope is used wherever it is exercised, not only by the API's decision.

Sign-in and ID tokens use `openid`, `profile` and `email`; userinfo uses `openid`; a refresh token
(issued by the code, device or refresh grant) uses `offline_access`. The report counts them, so it
no longer calls them "never used" and pre-ticks them for narrowing; it never pre-ticks a required
scope or one the app's grants need, and the service refuses to remove those (test_usage_narrowing.py).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts import background
from scopes.constants import ScopeName as S
from scopes.models import ApplicationScope
from scopes.usage import recorder
from scopes.usage.models import ScopeUsage
from scopes.usage.selectors import usage_report
from tests.factories import UserFactory
from tests.oauth import Flow, consent_form, device_page, device_poll, device_start, refresh

pytestmark = pytest.mark.django_db

IDENTITY = {"openid", "profile", "email"}


def _used(app, user) -> set[str]:
    background.flush()  # what the process's bookkeeping thread writes every few seconds
    return set(ScopeUsage.objects.filter(application=app, user=user).values_list("scope", flat=True))


def _sign_in(browser, app, scope="openid profile email offline_access"):
    flow = Flow(browser, app.client_id, scope, extra={"nonce": "n-1"})
    answer = flow.exchange(flow.authorize())
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_sign_in_counts_openid_profile_email_and_offline_access(world, gallery, browser_of):
    _sign_in(browser_of(world.member_a), gallery)
    assert _used(gallery, world.member_a) == IDENTITY | {"offline_access"}
    lines = {
        line.scope: line
        for line in usage_report(application=gallery, tenant=world.acme, today=recorder.today())
    }
    for name in IDENTITY | {"offline_access"}:
        assert not lines[name].never_used, name


def test_refresh_counts_offline_access_and_the_refreshed_id_token(world, gallery, browser_of):
    tokens = _sign_in(browser_of(world.member_a), gallery)
    ScopeUsage.objects.all().delete()
    recorder.forget()
    refreshed = refresh(gallery.client_id, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert _used(gallery, world.member_a) == IDENTITY | {"offline_access"}


def test_userinfo_counts_openid_and_the_claims_it_discloses(world, gallery, browser_of):
    tokens = _sign_in(browser_of(world.member_a), gallery, scope="openid email")
    ScopeUsage.objects.all().delete()
    recorder.forget()
    answer = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert answer.status_code == 200
    assert _used(gallery, world.member_a) == {"openid", "email"}


def test_a_token_without_id_or_refresh_token_counts_nothing_extra(world, gallery, browser_of):
    _sign_in(browser_of(world.member_a), gallery, scope="photos.read")
    assert _used(gallery, world.member_a) == set()


def test_the_device_grant_counts_offline_access(world, browser_of):
    from scopes.models import Application, Scope
    from tests.factories import ApplicationFactory

    tv = ApplicationFactory(client_id="frame", authorization_grant_type=Application.GRANT_DEVICE_CODE)
    for scope in Scope.objects.filter(name__in=["photos.read", "offline_access"]):
        ApplicationScope.objects.create(application=tv, scope=scope)
    started = device_start("photos.read offline_access", client_id="frame")
    browser = browser_of(world.member_a)
    browser.post("/o/device/approve/", consent_form(device_page(browser, started["user_code"])))
    token = device_poll(started["device_code"], client_id="frame")
    assert token.status_code == 200, token.content
    assert _used(tv, world.member_a) == {"offline_access"}


def test_the_report_never_preticks_a_required_or_needed_scope(world, gallery, browser_of):
    ApplicationScope.objects.filter(application=gallery, scope__name=S.PROFILE_READ).update(required=True)
    tokens = _sign_in(browser_of(world.member_a), gallery)
    assert tokens["refresh_token"]
    ScopeUsage.objects.all().delete()  # nothing counted: every scope "never used"
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    page = browser_of(superuser).get(
        "/admin/usage/", {"application": gallery.pk, "tenant": world.acme.pk, "days": 30}
    )
    html = page.content.decode()
    ticked = set(re.findall(r'name="scope" value="([^"]+)"[^>]*\n?\s*checked', html))
    assert "photos.delete" in ticked  # the report still suggests what may go
    assert not ticked & {"profile.read", "openid", "offline_access"}
    for name in ("profile.read", "openid", "offline_access"):
        row = re.search(rf'<tr data-scope="{re.escape(name)}">.*?</tr>', html, re.S).group(0)
        assert "kept:" in row, name
