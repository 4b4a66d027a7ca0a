"""Attacks on step-up: a refresh that would raise the sign-in, a consent form posted after the
step-up grew old."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import authn
from photos.models import Photo
from scopes.constants import ScopeName as S
from scopes.models import AccessToken, RefreshToken, Scope
from tests.accounts.factor_helpers import enrolled, next_code
from tests.factories import PhotoFactory
from tests.oauth import Flow, refresh

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def test_a_refresh_never_raises_the_sign_in(world, gallery, browser_of):
    """Granted at the password level; the user then steps up in the browser; the app refreshes:
    the new token still says password, and a call that needs a second factor is still challenged."""
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.delete offline_access")
    tokens = flow.exchange(flow.authorize()).json()
    browser.post("/account/verify/", {"code": next_code(device)})  # the session is mfa now
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA)
    refreshed = refresh(gallery.client_id, tokens["refresh_token"]).json()
    new = AccessToken.objects.get(source_refresh_token__isnull=False)
    assert (new.acr, new.amr) == (authn.PASSWORD, "pwd")
    assert RefreshToken.objects.filter(revoked__isnull=True).get().acr == authn.PASSWORD
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a)
    answer = Client().delete(
        f"/api/t/acme/photos/{photo.pk}/", HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}"
    )
    assert (
        answer.status_code == 401 and 'error="insufficient_user_authentication"' in answer["WWW-Authenticate"]
    )
    assert Photo.objects.for_tenant(world.acme).filter(pk=photo.pk).exists()


def test_a_consent_form_posted_after_the_step_up_grew_old_grants_nothing(
    world, gallery, browser_of, unchanged
):
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA, max_age=600)
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    browser.post("/account/verify/", {"code": next_code(device)})
    flow = Flow(browser, gallery.client_id, "photos.delete")
    page = flow.start()
    assert page.status_code == 200
    session = browser.session
    session[authn.SESSION_KEY]["auth_time"] -= 601
    session.save()
    with unchanged():
        answer = flow.consent(page)
    assert answer.status_code == 400 and b"too old" in answer.content


def test_a_code_keeps_the_sign_in_it_was_issued_with(world, gallery, browser_of):
    """The code's sign-in is what its tokens get, not the session's at exchange time."""
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA, max_age=600)
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    browser.post("/account/verify/", {"code": next_code(device)})
    flow = Flow(browser, gallery.client_id, "photos.delete")
    redirect = flow.authorize()
    AccessToken.objects.all().delete()
    assert flow.exchange(redirect).status_code == 200
    token = AccessToken.objects.get()
    assert token.acr == authn.MFA and token.auth_time > timezone.now() - timedelta(minutes=1)
