"""Per-album grants (RFC 9396 authorization details) through /o/authorize/, /o/token/ and introspection."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.constants import RoleName
from scopes.access.albums import InvalidDetails, parse_request
from scopes.access.selectors import registry
from scopes.models import AccessToken, Application, Consent, ConsentAlbum, Grant
from scopes.registry import closure
from tests.albums import album_boxes, details
from tests.factories import AlbumFactory
from tests.oauth import Flow, refresh

pytestmark = pytest.mark.django_db

READ_UPLOAD = ["photos.read", "photos.upload"]


@pytest.fixture
def albums(world):
    """Acme's albums: the member's own, a colleague's, and the admin's."""
    return {
        "own": AlbumFactory(tenant=world.acme, owner=world.member_a, name="Mine"),
        "colleague": AlbumFactory(tenant=world.acme, owner=world.member2_a, name="Colleague's"),
        "admin": AlbumFactory(tenant=world.acme, owner=world.admin_a, name="Admin's"),
        "globex": AlbumFactory(tenant=world.globex, owner=world.member_b, name="Elsewhere"),
    }


def album_flow(client, gallery, actions=READ_UPLOAD, identifiers=None, scope="", **extra):
    return Flow(
        client,
        gallery.client_id,
        scope or " ".join(actions),
        extra={"authorization_details": details(actions, identifiers), **extra},
    )


# --- The request


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "JSON array"),
        ("{}", "JSON array"),
        ("[]", "JSON array"),
        ('[{"type": "folder", "actions": ["photos.read"]}]', "Unknown authorization_details type"),
        ('[{"type": "album"}]', "needs actions"),
        ('[{"type": "album", "actions": []}]', "needs actions"),
        ('[{"type": "album", "actions": ["profile.read"]}]', "may not ask for"),
        ('[{"type": "album", "actions": ["photos.fly"]}]', "may not ask for"),
        ('[{"type": "album", "actions": ["photos.read"], "identifiers": [1]}]', "identifiers"),
        ('[{"type": "album", "actions": ["photos.read"], "identifiers": ["-1"]}]', "identifiers"),
        ('[{"type": "album", "actions": ["photos.read"], "locations": ["x"]}]', "no field locations"),
        ("[" + ",".join(['{"type": "album", "actions": ["photos.read"]}'] * 11) + "]", "1 to 10"),
    ],
)
def test_malformed_details_are_refused(seeded, raw, message):
    implications = registry().implications
    with pytest.raises(InvalidDetails, match=message):
        parse_request(
            raw,
            app_allowed=closure(["photos.write", "albums.write"], implications),
            implications=implications,
        )


def test_entries_are_merged_into_one_album_request(seeded):
    implications = registry().implications
    raw = (
        '[{"type": "album", "actions": ["photos.read"], "identifiers": ["3", "1"]},'
        ' {"type": "album", "actions": ["photos.upload"], "identifiers": ["2"]}]'
    )
    found = parse_request(raw, app_allowed=closure(["photos.write"], implications), implications=implications)
    assert found.actions == ("photos.read", "photos.upload") and found.identifiers == (1, 2, 3)


def test_invalid_details_answer_before_any_page(world, gallery, browser_of):
    flow = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.read", extra={"authorization_details": "[1]"}
    )
    params = flow.redirect_params(flow.start())
    assert params["error"] == "invalid_authorization_details" and params["state"] == flow.state
    assert not Consent.objects.exists()


def test_metadata_advertises_the_album_type(db):
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert data["authorization_details_types_supported"] == ["album"]


# --- The consent page


def test_page_lists_visible_albums_and_greys_what_the_role_cannot_do(world, gallery, browser_of, albums):
    flow = album_flow(browser_of(world.member_a), gallery, actions=["photos.read", "albums.write"])
    page = flow.start()
    body = page.content.decode()
    boxes = album_boxes(body)
    # Albums of this tenant only; each tickable (photos.read works on every album a Member sees).
    assert set(boxes) == {albums["own"].pk, albums["colleague"].pk, albums["admin"].pk}
    assert "Elsewhere" not in body
    # albums.write on a colleague's album: said why, on that album.
    assert "albums.write: Your role Member in Acme" in body and "only on objects you own" in body


def test_guest_role_without_albums_read_sees_no_album(world, gallery, browser_of, albums):
    from scopes.models import RoleGrant

    RoleGrant.objects.filter(role=world.role(RoleName.GUEST), scope__name="albums.read").delete()
    flow = album_flow(browser_of(world.guest_a), gallery, actions=["photos.read"])
    body = flow.start().content.decode()
    assert album_boxes(body) == {}
    assert "There is no album here you can let the app reach." in body
    # Allowing anyway grants nothing: access_denied.
    assert (
        flow.redirect_params(flow.consent(flow.start(), albums=[albums["own"].pk]))["error"]
        == "access_denied"
    )


def test_own_reach_role_sees_only_own_albums(world, gallery, browser_of, albums):
    from scopes.models import RoleGrant

    RoleGrant.objects.filter(role=world.role(RoleName.MEMBER), scope__name="albums.read").update(reach="own")
    RoleGrant.objects.filter(role=world.role(RoleName.MEMBER), scope__name="albums.write").update(reach="own")
    flow = album_flow(browser_of(world.member_a), gallery, actions=["photos.read"])
    assert set(album_boxes(flow.start().content.decode())) == {albums["own"].pk}


def test_ticked_albums_are_granted_and_carried_to_the_token(world, gallery, browser_of, albums):
    flow = album_flow(browser_of(world.member_a), gallery, scope="photos.read photos.upload offline_access")
    response = flow.consent(flow.start(), albums=[albums["own"].pk, albums["colleague"].pk])
    assert Grant.objects.get().albums == f"{albums['own'].pk} {albums['colleague'].pk}"
    token = flow.exchange(response).json()
    assert token["authorization_details"] == [
        {
            "type": "album",
            "actions": ["photos.read", "photos.upload"],
            "identifiers": [str(albums["own"].pk), str(albums["colleague"].pk)],
        }
    ]
    consent = Consent.objects.get(user=world.member_a)
    assert set(ConsentAlbum.all_tenants.filter(consent=consent).values_list("object_id", flat=True)) == {
        albums["own"].pk,
        albums["colleague"].pk,
    }
    # The refresh grant keeps the limit, and it shrinks with the consent, never grows.
    ConsentAlbum.all_tenants.filter(object_id=albums["colleague"].pk).delete()
    refreshed = refresh(gallery.client_id, token["refresh_token"]).json()
    assert refreshed["authorization_details"][0]["identifiers"] == [str(albums["own"].pk)]
    assert AccessToken.objects.get(token_checksum__isnull=False).albums == str(albums["own"].pk)


def test_nothing_ticked_for_the_album_request_is_access_denied(world, gallery, browser_of, albums):
    flow = album_flow(browser_of(world.member_a), gallery)
    params = flow.redirect_params(flow.consent(flow.start(), albums=[]))
    assert params["error"] == "access_denied"
    assert not ConsentAlbum.all_tenants.exists() and not Grant.objects.exists()


def test_identifiers_preselect_and_narrow_the_list(world, gallery, browser_of, albums):
    wanted = [albums["own"].pk, albums["globex"].pk, 987654]
    flow = album_flow(browser_of(world.member_a), gallery, identifiers=wanted)
    body = flow.start().content.decode()
    assert album_boxes(body) == {albums["own"].pk: True}  # another tenant's and a missing id: not listed
    assert f'value="{albums["own"].pk}" id="album-{albums["own"].pk}" checked' in body


def test_remembered_albums_skip_the_page_and_new_ones_ask(world, gallery, browser_of, albums):
    browser = browser_of(world.member_a)
    first = album_flow(browser, gallery)
    first.exchange(first.consent(first.start(), albums=[albums["own"].pk]))
    # The same request again: remembered, no page, the same albums.
    again = album_flow(browser, gallery)
    response = again.start()
    assert response.status_code == 302
    assert again.exchange(response).json()["authorization_details"][0]["identifiers"] == [
        str(albums["own"].pk)
    ]
    # A new album named: the page asks, listing it; the remembered one is shown as already allowed.
    more = album_flow(browser, gallery, identifiers=[albums["own"].pk, albums["colleague"].pk])
    page = more.start()
    assert page.status_code == 200
    assert album_boxes(page.content.decode()) == {albums["colleague"].pk: True}
    token = more.exchange(more.consent(page, albums=[albums["colleague"].pk])).json()
    assert token["authorization_details"][0]["identifiers"] == sorted(
        [str(albums["own"].pk), str(albums["colleague"].pk)]
    )


def test_prompt_consent_unticked_album_is_taken_back(world, gallery, browser_of, albums):
    browser = browser_of(world.member_a)
    first = album_flow(browser, gallery)
    first.exchange(first.consent(first.start(), albums=[albums["own"].pk, albums["colleague"].pk]))
    again = album_flow(browser, gallery, prompt="consent")
    page = again.start()
    assert set(album_boxes(page.content.decode())) == {
        albums["own"].pk,
        albums["colleague"].pk,
        albums["admin"].pk,
    }
    again.exchange(again.consent(page, albums=[albums["own"].pk]))
    assert list(ConsentAlbum.all_tenants.values_list("object_id", flat=True)) == [albums["own"].pk]


def test_include_granted_scopes_adds_remembered_albums(world, gallery, browser_of, albums):
    browser = browser_of(world.member_a)
    first = album_flow(browser, gallery)
    first.exchange(first.consent(first.start(), albums=[albums["own"].pk]))
    more = album_flow(browser, gallery, identifiers=[albums["admin"].pk], include_granted_scopes="true")
    token = more.exchange(more.consent(more.start(), albums=[albums["admin"].pk])).json()
    assert set(token["authorization_details"][0]["identifiers"]) == {
        str(albums["own"].pk),
        str(albums["admin"].pk),
    }


def test_an_unlimited_request_after_an_album_grant_asks_again(world, gallery, browser_of, albums):
    browser = browser_of(world.member_a)
    first = album_flow(browser, gallery)
    first.exchange(first.consent(first.start(), albums=[albums["own"].pk]))
    plain = Flow(browser, gallery.client_id, "photos.read photos.upload")
    page = plain.start()
    assert page.status_code == 200  # remembered consent does not silently widen to every album
    assert "lets it reach every album your role reaches" in page.content.decode()


def test_introspection_reports_the_albums_as_they_stand(world, gallery, browser_of, albums):
    from tests.factories import ApplicationFactory

    flow = album_flow(browser_of(world.member_a), gallery)
    token = flow.exchange(
        flow.consent(flow.start(), albums=[albums["own"].pk, albums["colleague"].pk])
    ).json()
    server = ApplicationFactory(
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret="s3cret",
        is_resource_server=True,
        tenant=None,
    )

    def ask():
        return (
            Client()
            .post(
                "/o/introspect/",
                {"token": token["access_token"]},
                HTTP_AUTHORIZATION=basic(server.client_id, "s3cret"),
            )
            .json()
        )

    assert ask()["authorization_details"][0]["identifiers"] == sorted(
        [str(albums["own"].pk), str(albums["colleague"].pk)]
    )
    albums["colleague"].delete()
    assert ask()["authorization_details"][0]["identifiers"] == [str(albums["own"].pk)]


def basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
