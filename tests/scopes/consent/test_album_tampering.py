"""Album tampering on `POST /o/authorize/` (RFC 9396 requests): the server re-derives every album.

The form contributes album ticks (ids to look for) and nothing else: what is listed, what counts as
already allowed and what the request asked for come from the signed request and the database as
they are now. Each attack changes nothing, or grants exactly what an honest form would.
"""

from __future__ import annotations

import pytest
from django.core import signing

from accounts.constants import RoleName
from scopes.consent.views import CONSENT_SALT
from scopes.models import ConsentAlbum, Grant, RoleGrant
from tests.albums import details
from tests.factories import AlbumFactory
from tests.oauth import Flow, denied, form_of, refused

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


@pytest.fixture
def albums(world):
    return {
        "own": AlbumFactory(tenant=world.acme, owner=world.member_a, name="Mine"),
        "colleague": AlbumFactory(tenant=world.acme, owner=world.member2_a, name="Colleague's"),
        "globex": AlbumFactory(tenant=world.globex, owner=world.member_b, name="Elsewhere"),
    }


def flow_for(world, gallery, browser_of, identifiers=None, **extra) -> Flow:
    return Flow(
        browser_of(world.member_a),
        gallery.client_id,
        "photos.read",
        extra={"authorization_details": details(["photos.read"], identifiers), **extra},
    )


def granted_albums() -> set[int]:
    return set(ConsentAlbum.all_tenants.values_list("object_id", flat=True))


def test_ticking_another_tenants_album_grants_nothing(world, gallery, browser_of, albums, unchanged):
    flow = flow_for(world, gallery, browser_of)
    form = form_of(flow.start())
    with unchanged():
        denied(flow.client.post("/o/authorize/", {**form, "album": [str(albums["globex"].pk)]}), flow.state)


def test_ticking_an_album_outside_the_requested_identifiers_is_dropped(world, gallery, browser_of, albums):
    flow = flow_for(world, gallery, browser_of, identifiers=[albums["own"].pk])
    form = form_of(flow.start())
    response = flow.client.post(
        "/o/authorize/", {**form, "album": [str(albums["own"].pk), str(albums["colleague"].pk)]}
    )
    assert "code" in Flow.redirect_params(response)
    assert granted_albums() == {albums["own"].pk}
    assert Grant.objects.get().albums == str(albums["own"].pk)


@pytest.mark.parametrize(
    "tick", ["abc", "-1", "1.5", "9" * 40, "", "0x1", "\u0661"]
)  # the last: an Arabic-Indic digit one
def test_malformed_ticks_are_ignored(world, gallery, browser_of, albums, unchanged, tick):
    flow = flow_for(world, gallery, browser_of)
    form = form_of(flow.start())
    with unchanged():
        denied(flow.client.post("/o/authorize/", {**form, "album": [tick]}), flow.state)


def test_an_album_hidden_since_the_page_is_not_granted(world, gallery, browser_of, albums):
    flow = flow_for(world, gallery, browser_of)
    form = form_of(flow.start())
    # The role now sees only its own albums: the colleague's album was shown, and is not granted.
    RoleGrant.objects.filter(role=world.role(RoleName.MEMBER), scope__name="albums.read").update(reach="own")
    flow.client.post("/o/authorize/", {**form, "album": [str(albums["own"].pk), str(albums["colleague"].pk)]})
    assert granted_albums() == {albums["own"].pk}


def test_album_ticks_on_a_request_without_details_limit_nothing(world, gallery, browser_of, albums):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    flow.client.post("/o/authorize/", {**form, "album": [str(albums["own"].pk)]})
    assert granted_albums() == set() and Grant.objects.get().albums is None


def resigned(token: str, change) -> str:
    payload = signing.loads(token, salt=CONSENT_SALT)
    change(payload)
    return signing.dumps(payload, key="not-the-servers-secret-key", salt=CONSENT_SALT, compress=True)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["albums"]["request"].update(identifiers=[1, 2, 3]),
        lambda p: p["albums"]["shown"].update(offered=list(range(1, 100))),
        lambda p: p.update(albums=None),
    ],
    ids=["identifiers", "offered", "dropped"],
)
def test_a_form_whose_album_request_was_changed_is_refused(
    world, gallery, browser_of, albums, unchanged, change
):
    flow = flow_for(world, gallery, browser_of, identifiers=[albums["own"].pk])
    form = form_of(flow.start())
    forged = resigned(form["request_token"], change)
    with unchanged():
        refused(
            flow.client.post(
                "/o/authorize/", {**form, "request_token": forged, "album": [str(albums["colleague"].pk)]}
            )
        )


@pytest.mark.parametrize(
    "shown",
    [None, "x", {"offered": "1"}, {"offered": [True], "already": []}, {"offered": [], "already": ["1"]}],
)
def test_a_malformed_shown_album_list_even_signed_is_refused(
    world, gallery, browser_of, albums, unchanged, shown
):
    """A form the server itself signed with a broken album plan (a key holder's forgery) grants nothing."""
    flow = flow_for(world, gallery, browser_of)
    form = form_of(flow.start())
    payload = signing.loads(form["request_token"], salt=CONSENT_SALT)
    payload["albums"]["shown"] = shown
    token = signing.dumps(payload, salt=CONSENT_SALT, compress=True)
    with unchanged():
        refused(
            flow.client.post(
                "/o/authorize/", {**form, "request_token": token, "album": [str(albums["own"].pk)]}
            )
        )
