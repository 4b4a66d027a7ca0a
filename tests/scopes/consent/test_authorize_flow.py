"""The authorization code + PKCE flow, end to end through DOT and our consent page."""

import pytest

from scopes.models import AccessToken, Consent, Grant, RefreshToken
from tests.oauth import Flow

pytestmark = pytest.mark.django_db


def test_member_partial_consent_gets_exactly_what_was_ticked(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read photos.upload albums.read")
    page = flow.start()
    assert page.status_code == 200
    body = page.content.decode()
    assert "Test Gallery" in body and "to use photos.upload" in body
    response = flow.consent(page, scopes=["photos.read", "albums.read"])
    params = flow.redirect_params(response)
    assert params["state"] == flow.state
    token = flow.exchange(response).json()
    assert token["scope"] == "albums.read photos.read"
    assert "refresh_token" not in token
    row = AccessToken.objects.get(token_checksum__isnull=False, user=world.member_a)
    assert row.tenant == world.acme
    assert row.token == ""  # stored hashed only
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme, application=gallery)
    assert {s.name for s in consent.scopes.all()} == {"photos.read", "albums.read"}


def test_token_scope_is_normalised_and_space_delimited(world, gallery, browser_of):
    flow = Flow(browser_of(world.admin_a), gallery.client_id, "photos.write photos.delete photos.read")
    token = flow.exchange(flow.consent(flow.start())).json()
    assert token["scope"] == "photos.write"


def test_nothing_ticked_is_access_denied(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    response = flow.consent(flow.start(), scopes=[])
    assert flow.redirect_params(response)["error"] == "access_denied"
    assert not Consent.objects.exists() and not Grant.objects.exists()


def test_deny_button_is_access_denied_with_state(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    params = flow.redirect_params(flow.consent(flow.start(), decision="deny"))
    assert params == {"error": "access_denied", "state": flow.state, "iss": "http://testserver"}


def test_guest_sees_delete_unavailable_with_the_reason(world, gallery, browser_of):
    flow = Flow(browser_of(world.guest_a), gallery.client_id, "photos.read photos.delete")
    body = flow.start().content.decode()
    assert "Your role Guest in Acme does not allow this: delete photos." in body
    assert 'name="scope" value="photos.delete"' not in body
    # Even a forged POST for photos.delete yields only what the role can grant.
    token = flow.exchange(flow.consent(flow.start(), scopes=["photos.read", "photos.delete"])).json()
    assert token["scope"] == "photos.read"


def test_composite_scope_is_offered_as_the_parts_the_role_can_grant(world, gallery, browser_of):
    flow = Flow(browser_of(world.guest_a), gallery.client_id, "photos.write")
    body = flow.start().content.decode()
    assert 'name="scope" value="photos.read"' in body
    assert 'name="scope" value="photos.write"' not in body
    assert (
        "does not allow this: delete photos, change the titles, descriptions and albums of photos and upload new photos."
        in body
    )
    token = flow.exchange(flow.consent(flow.start())).json()
    assert token["scope"] == "photos.read"


def test_required_scope_is_locked_and_cannot_be_unticked(world, gallery, browser_of):
    gallery.scope_links.filter(scope__name="profile.read").update(required=True)
    flow = Flow(browser_of(world.member_a), gallery.client_id, "profile.read photos.read")
    token = flow.exchange(flow.consent(flow.start(), scopes=["photos.read"])).json()
    assert token["scope"] == "photos.read profile.read"


def test_required_scope_the_role_cannot_grant_leaves_only_deny(world, gallery, browser_of):
    gallery.scope_links.filter(scope__name="photos.delete").update(required=True)
    flow = Flow(browser_of(world.guest_a), gallery.client_id, "photos.read photos.delete")
    page = flow.start()
    body = page.content.decode()
    assert "you can only deny this request" in body
    assert 'value="allow"' not in body
    assert flow.redirect_params(flow.consent(page))["error"] == "access_denied"


def test_remembered_consent_skips_the_page(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read albums.read")
    first.exchange(first.consent(first.start()))
    again = Flow(browser, gallery.client_id, "photos.read")
    response = again.start()
    assert response.status_code == 302
    assert again.exchange(response).json()["scope"] == "photos.read"


def test_prompt_consent_shows_the_page_again(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    first.exchange(first.consent(first.start()))
    again = Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "consent"})
    page = again.start()
    assert page.status_code == 200
    assert 'name="scope" value="photos.read"' in page.content.decode()


def test_new_scopes_ask_only_for_what_is_new_and_include_granted_scopes_unions(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    first.exchange(first.consent(first.start()))

    more = Flow(browser, gallery.client_id, "photos.read photos.upload")
    page = more.start()
    body = page.content.decode()
    assert 'name="scope" value="photos.upload"' in body
    assert 'name="scope" value="photos.read"' not in body  # already granted: listed, not asked
    assert "Already allowed" in body
    assert more.exchange(more.consent(page)).json()["scope"] == "photos.read photos.upload"

    incremental = Flow(browser, gallery.client_id, "albums.read", extra={"include_granted_scopes": "true"})
    token = incremental.exchange(incremental.consent(incremental.start())).json()
    assert token["scope"] == "albums.read photos.read photos.upload"

    plain = Flow(browser, gallery.client_id, "albums.read")
    assert plain.exchange(plain.start()).json()["scope"] == "albums.read"


def test_tenant_picker_offers_only_the_users_active_tenants(world, gallery, browser_of):
    from scopes.roles.services import membership_set

    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role("Guest"))
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read", extra={"tenant": "globex"})
    page = flow.start()
    body = page.content.decode()
    assert '<option value="globex" selected>' in body and '<option value="acme">' in body
    token = flow.exchange(flow.consent(page)).json()
    assert AccessToken.objects.get(user=world.member_a).tenant == world.globex
    assert token["scope"] == "photos.read"

    # A tenant the user is not in is never used, whatever the POST says.
    other = Flow(browser, gallery.client_id, "photos.read")
    response = other.consent(other.start(), tenant="nowhere")
    assert response.status_code == 400
    assert Grant.objects.filter(tenant__slug="nowhere").count() == 0


def test_app_owned_by_a_tenant_is_only_offered_there(world, gallery, browser_of):
    from scopes.roles.services import membership_set

    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role("Guest"))
    gallery.tenant = world.globex
    gallery.save()
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"tenant": "acme"})
    body = flow.start().content.decode()
    assert '<option value="acme"' not in body
    assert 'name="tenant" value="globex"' in body


def test_outsider_can_only_deny(world, gallery, browser_of):
    flow = Flow(browser_of(world.outsider), gallery.client_id, "photos.read")
    page = flow.start()
    assert "not a member of any organisation" in page.content.decode()
    assert flow.consent(page).status_code == 400  # a forged "allow" changes nothing
    assert flow.redirect_params(flow.consent(flow.start(), decision="deny"))["error"] == "access_denied"
    assert not Grant.objects.exists()


def test_replayed_or_forged_consent_form_grants_nothing(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    page = flow.start()
    assert flow.consent(page).status_code == 302
    replay = flow.consent(page)
    assert replay.status_code == 400
    forged = flow.client.post(
        "/o/authorize/",
        {"request_token": "x" + "y" * 40, "tenant": "acme", "scope": ["photos.read"], "decision": "allow"},
    )
    assert forged.status_code == 400
    assert Grant.objects.count() == 1


def test_sign_in_required_and_unknown_scope_refused(world, gallery, client):
    flow = Flow(client, gallery.client_id, "photos.read")
    response = flow.start()
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")
    client.force_login(world.member_a)
    bad = Flow(client, gallery.client_id, "photos.read root.everything")
    assert bad.redirect_params(bad.start())["error"] == "invalid_scope"
    empty = Flow(client, gallery.client_id, "")
    assert empty.redirect_params(empty.start())["error"] == "invalid_scope"


def test_offline_access_brings_a_refresh_token_that_rotates(world, gallery, browser_of):
    from tests.oauth import refresh

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    token = flow.exchange(flow.consent(flow.start())).json()
    assert token["scope"] == "offline_access photos.read"
    assert token["refresh_token"]
    rt = RefreshToken.objects.get()
    assert rt.tenant == world.acme and rt.token == ""
    renewed = refresh(gallery.client_id, token["refresh_token"]).json()
    assert renewed["scope"] == "offline_access photos.read"
    assert renewed["refresh_token"] != token["refresh_token"]
    # Reusing the old refresh token revokes the whole family.
    reuse = refresh(gallery.client_id, token["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert refresh(gallery.client_id, renewed["refresh_token"]).status_code == 400


def test_refresh_after_role_was_lowered_keeps_only_what_the_role_allows(world, gallery, browser_of):
    from scopes.roles.services import membership_set
    from tests.oauth import refresh

    flow = Flow(browser_of(world.admin_a), gallery.client_id, "photos.write albums.read offline_access")
    token = flow.exchange(flow.consent(flow.start())).json()
    assert token["scope"] == "albums.read offline_access photos.write"
    membership_set(actor=None, user=world.admin_a, tenant=world.acme, role=world.role("Guest"))
    renewed = refresh(gallery.client_id, token["refresh_token"]).json()
    assert renewed["scope"] == "albums.read offline_access photos.read"
    # Asking for more than the original on refresh is refused.
    wider = refresh(gallery.client_id, renewed["refresh_token"], scope="albums.write")
    assert wider.status_code == 400


def test_refresh_after_membership_removed_is_refused(world, gallery, browser_of):
    from scopes.roles.services import membership_remove
    from tests.oauth import refresh

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    token = flow.exchange(flow.consent(flow.start())).json()
    membership_remove(actor=None, user=world.member_a, tenant=world.acme)
    response = refresh(gallery.client_id, token["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_pkce_is_required_and_plain_is_refused(world, gallery, browser_of):
    from urllib.parse import urlencode

    browser = browser_of(world.member_a)
    no_pkce = Flow(browser, gallery.client_id, "photos.read")
    params = {k: v for k, v in no_pkce.params.items() if not k.startswith("code_challenge")}
    answer = Flow.redirect_params(browser.get("/o/authorize/?" + urlencode(params)))
    assert answer["error"] == "invalid_request" and "Code challenge required" in answer["error_description"]

    plain = Flow(browser, gallery.client_id, "photos.read", extra={"code_challenge_method": "plain"})
    answer = Flow.redirect_params(plain.start())
    assert answer["error"] == "invalid_request"

    flow = Flow(browser, gallery.client_id, "photos.read")
    bad = flow.exchange(flow.consent(flow.start()), verifier="wrong-verifier-" + "x" * 40)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
