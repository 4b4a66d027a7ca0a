"""Issue 24, item 7: a narrowing that would break an app is refused, with a reason, and changes nothing.

The usage report pre-ticked `openid`, `profile`, `email`, `offline_access` and the app's required
`profile.read` as "never used"; confirming it would have broken sign-in, refresh and every
consent. The service (`scopes.usage.services.narrowing_refusals`) now refuses, whoever calls it.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from scopes.constants import ScopeName as S
from scopes.models import ApplicationScope
from scopes.usage.services import application_scopes_narrow
from tests.factories import UserFactory
from tests.oauth import Flow

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _sign_in(browser, app, scope):
    flow = Flow(browser, app.client_id, scope, extra={"nonce": "n-1"})
    answer = flow.exchange(flow.authorize())
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_required_scope_is_not_removed(world, gallery, root, unchanged):
    ApplicationScope.objects.filter(application=gallery, scope__name=S.PROFILE_READ).update(required=True)
    with unchanged(), pytest.raises(ValidationError) as refused:
        application_scopes_narrow(actor=root, application=gallery, remove=[S.PROFILE_READ, S.PHOTOS_DELETE])
    assert "Cannot remove profile.read: the app requires it" in " ".join(refused.value.messages)


def test_offline_access_is_kept_while_the_app_holds_refresh_tokens(
    world, gallery, root, browser_of, unchanged
):
    _sign_in(browser_of(world.member_a), gallery, "photos.read offline_access")
    with unchanged(), pytest.raises(ValidationError) as refused:
        application_scopes_narrow(actor=root, application=gallery, remove=[S.OFFLINE_ACCESS])
    assert "refresh grant would stop working" in " ".join(refused.value.messages)


def test_openid_is_kept_while_the_app_signs_people_in(world, gallery, root, browser_of, unchanged):
    _sign_in(browser_of(world.member_a), gallery, "openid")
    with unchanged(), pytest.raises(ValidationError) as refused:
        application_scopes_narrow(actor=root, application=gallery, remove=[S.OPENID])
    assert "sign-in would stop working" in " ".join(refused.value.messages)


def test_every_allowed_scope_at_once_is_refused(world, gallery, root, unchanged):
    everything = list(
        ApplicationScope.objects.filter(application=gallery).values_list("scope__name", flat=True)
    )
    with unchanged(), pytest.raises(ValidationError) as refused:
        application_scopes_narrow(actor=root, application=gallery, remove=everything)
    assert "leaves the app no token to obtain" in " ".join(refused.value.messages)


@pytest.mark.parametrize("confirm", ["", "1"])
def test_the_admin_shows_the_reason_and_saves_nothing(world, gallery, root, browser_of, unchanged, confirm):
    """Preview and confirm alike: the service's refusal on the page, never a 500."""
    ApplicationScope.objects.filter(application=gallery, scope__name=S.PROFILE_READ).update(required=True)
    browser = browser_of(root)
    query = f"?application={gallery.pk}&tenant={world.acme.pk}&days=30"
    with unchanged():
        answer = browser.post(f"/admin/usage/{query}", {"scope": [S.PROFILE_READ], "confirm": confirm})
    assert answer.status_code == 200
    assert "Cannot remove profile.read: the app requires it" in answer.content.decode()


def test_a_harmless_narrowing_still_goes_through(world, gallery, root):
    assert application_scopes_narrow(actor=root, application=gallery, remove=[S.PHOTOS_DELETE]) == [
        S.PHOTOS_DELETE
    ]
