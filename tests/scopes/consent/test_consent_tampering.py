"""Consent tampering on `POST /o/authorize/`: the form contributes ticks and a tenant, nothing more.

The form carries a signed `request_token` (the OAuth request, the requested scopes, the user and a
single-use nonce kept in the session), the chosen `tenant` slug and the ticked `scope` values.
Each attack below either changes nothing at all, or grants exactly what an honest form would.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from accounts.constants import RoleName
from scopes.consent.views import CONSENT_SALT
from scopes.models import Application, ApplicationScope, Consent, Grant, Scope
from scopes.roles.services import membership_remove, membership_set
from tests.factories import ApplicationFactory, ConsentFactory
from tests.oauth import REDIRECT_URI, Flow, denied, form_of, refused

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def granted(user, app) -> set[str]:
    consent = Consent.objects.get(user=user, application=app)
    return {s.name for s in consent.scopes.all()}


# --- scopes the form may not add


def test_only_scopes_that_were_not_requested_is_access_denied(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        response = flow.client.post("/o/authorize/", {**form, "scope": ["photos.upload", "photos.write"]})
    denied(response, flow.state)


def test_unrequested_scopes_next_to_requested_ones_are_dropped(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    response = flow.client.post(
        "/o/authorize/", {**form, "scope": ["photos.read", "photos.upload", "albums.write", "offline_access"]}
    )
    assert granted(world.member_a, gallery) == {"photos.read"}
    assert Grant.objects.get().scope == "photos.read"
    token = flow.exchange(response).json()
    assert token["scope"] == "photos.read" and "refresh_token" not in token


def test_a_scope_the_app_may_not_ask_for_is_refused_at_the_request_and_dropped_from_the_form(
    world, browser_of, unchanged
):
    app = ApplicationFactory(name="Narrow", client_id="narrow-app")
    ApplicationScope.objects.create(application=app, scope=Scope.objects.get(name="photos.read"))
    browser = browser_of(world.owner_a)
    with unchanged():
        asked = Flow(browser, app.client_id, "photos.read photos.delete")
        assert Flow.redirect_params(asked.start())["error"] == "invalid_scope"

    flow = Flow(browser, app.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        response = flow.client.post("/o/authorize/", {**form, "scope": ["photos.delete", "albums.write"]})
    denied(response, flow.state)


@pytest.mark.parametrize("forged", [["photos.delete"], ["photos.write"], ["photos.upload", "photos.update"]])
def test_a_scope_the_role_cannot_grant_is_access_denied(world, gallery, browser_of, unchanged, forged):
    flow = Flow(browser_of(world.guest_a), gallery.client_id, "photos.read photos.write photos.delete")
    page = flow.start()
    assert set(form_of(page)["scope"]) == {"photos.read"}  # the only checkbox a Guest is offered
    with unchanged():
        response = flow.client.post("/o/authorize/", {**form_of(page), "scope": forged})
    denied(response, flow.state)


def test_role_lowered_between_page_and_post_grants_only_what_the_new_role_allows(world, gallery, browser_of):
    flow = Flow(browser_of(world.admin_a), gallery.client_id, "photos.read photos.delete")
    form = form_of(flow.start())
    assert set(form["scope"]) == {"photos.read", "photos.delete"}
    membership_set(actor=None, user=world.admin_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    flow.client.post("/o/authorize/", form)
    assert granted(world.admin_a, gallery) == {"photos.read"}
    assert Grant.objects.get().scope == "photos.read"


# --- tenants


def test_a_tenant_the_user_is_not_in_is_refused(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    for tenant in ("globex", "nowhere", "", "acme' OR '1'='1"):
        with unchanged():
            refused(flow.client.post("/o/authorize/", {**form, "tenant": tenant}))
        form = form_of(flow.start())  # the nonce is single-use: each try needs a fresh page


def test_a_tenant_the_user_has_left_since_the_page_is_refused(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    membership_remove(actor=None, user=world.member_a, tenant=world.acme)
    with unchanged():
        refused(flow.client.post("/o/authorize/", form))


def test_an_inactive_tenant_is_refused(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    world.acme.is_active = False
    world.acme.save()
    with unchanged():
        refused(flow.client.post("/o/authorize/", form))


def test_a_tenant_the_app_may_not_be_used_in_is_refused(world, gallery, browser_of, unchanged):
    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role(RoleName.MEMBER))
    Application.objects.filter(pk=gallery.pk).update(tenant=world.globex)
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    assert form["tenant"] == "globex"
    with unchanged():
        refused(flow.client.post("/o/authorize/", {**form, "tenant": "acme"}))


# --- empty, replayed, expired, forged forms


@pytest.mark.parametrize("extra", [{"scope": []}, {"scope": [""]}, {"scope": ["", " "]}])
def test_an_empty_selection_is_access_denied(world, gallery, browser_of, unchanged, extra):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read albums.read")
    form = form_of(flow.start())
    with unchanged():
        response = flow.client.post("/o/authorize/", {**form, **extra})
    denied(response, flow.state)


@pytest.mark.parametrize("decision", ["deny", "", "ALLOW", "allow "])
def test_anything_but_allow_is_a_denial(world, gallery, browser_of, unchanged, decision):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        response = flow.client.post("/o/authorize/", {**form, "decision": decision})
    denied(response, flow.state)


def test_a_replayed_consent_form_is_refused(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    assert flow.client.post("/o/authorize/", form).status_code == 302
    with unchanged():
        refused(flow.client.post("/o/authorize/", form))
        refused(flow.client.post("/o/authorize/", {**form, "scope": ["photos.read", "photos.upload"]}))
    assert Grant.objects.count() == 1


def test_a_denied_form_cannot_be_replayed_as_allow(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        denied(flow.client.post("/o/authorize/", {**form, "decision": "deny"}), flow.state)
        refused(flow.client.post("/o/authorize/", form))


def test_an_expired_consent_form_is_refused(world, gallery, browser_of, unchanged, monkeypatch):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 16 * 60)  # the page was shown 16 min ago
    form = form_of(flow.start())
    monkeypatch.setattr(time, "time", real_time)
    with unchanged():
        response = flow.client.post("/o/authorize/", form)
    refused(response)
    assert b"expired" in response.content


def _resigned(token: str, *, key: str | None = None, **changes) -> str:
    """The form's payload with `changes` applied to its OAuth fields, signed again with `key`."""
    payload = signing.loads(token, salt=CONSENT_SALT)
    payload["oauth"].update(changes)
    return signing.dumps(payload, key=key, salt=CONSENT_SALT, compress=True)


@pytest.mark.parametrize(
    "field",
    [
        {"redirect_uri": "https://evil.example/steal"},
        {"client_id": "other-client"},
        {"state": "attacker-state"},
        {"code_challenge": "A" * 43},
    ],
    ids=["redirect_uri", "client_id", "state", "code_challenge"],
)
def test_a_form_whose_signed_request_was_changed_is_refused(world, gallery, browser_of, unchanged, field):
    ApplicationFactory(name="Other", client_id="other-client")
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    forged = _resigned(form["request_token"], key="not-the-servers-secret-key", **field)
    with unchanged():
        refused(flow.client.post("/o/authorize/", {**form, "request_token": forged}))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: ("." + t) if not t.startswith(".") else t[1:],  # compressed flag
        lambda t: t.split(":")[0],  # no signature at all
        lambda t: "",
    ],
    ids=["signature", "compression", "unsigned", "missing"],
)
def test_a_mangled_request_token_is_refused(world, gallery, browser_of, unchanged, mangle):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        refused(flow.client.post("/o/authorize/", {**form, "request_token": mangle(form["request_token"])}))


def test_oauth_fields_posted_next_to_the_form_are_ignored(world, gallery, browser_of):
    """redirect_uri, client_id, state and PKCE come from the signed request, never from the POST."""
    other = ApplicationFactory(
        name="Other", client_id="other-client", redirect_uris="https://evil.example/cb"
    )
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    response = flow.client.post(
        "/o/authorize/",
        {
            **form,
            "redirect_uri": "https://evil.example/cb",
            "client_id": other.client_id,
            "state": "attacker-state",
            "code_challenge": "A" * 43,
            "code_challenge_method": "plain",
            "scope": ["photos.read"],
        },
    )
    params = Flow.redirect_params(response)  # asserts the registered redirect URI
    assert params["state"] == flow.state
    grant = Grant.objects.get()
    assert (grant.application, grant.code_challenge, grant.code_challenge_method) == (
        gallery,
        flow.challenge,
        "S256",
    )
    assert flow.exchange(response).status_code == 200


def test_submitting_one_flows_form_with_another_flows_choices_stays_in_the_first_flow(
    world, gallery, browser_of
):
    """Two flows open in one browser: each form answers only its own client, state and scopes."""
    other = ApplicationFactory(name="Other", client_id="other-client")
    ApplicationScope.objects.create(application=other, scope=Scope.objects.get(name="photos.delete"))
    browser = browser_of(world.member_a)
    mine = Flow(browser, gallery.client_id, "photos.read")
    theirs = Flow(browser, other.client_id, "photos.delete")
    my_form, their_form = form_of(mine.start()), form_of(theirs.start())
    response = browser.post("/o/authorize/", {**my_form, "scope": their_form["scope"] + my_form["scope"]})
    assert Flow.redirect_params(response)["state"] == mine.state
    assert Grant.objects.get().application == gallery
    assert granted(world.member_a, gallery) == {"photos.read"}
    assert not Consent.objects.filter(application=other).exists()
    # The code is the first client's: the second cannot redeem it.
    assert mine.exchange(response, client_id=other.client_id).json()["error"] == "invalid_grant"


# --- someone else's form


def test_a_form_from_another_users_session_is_refused(world, gallery, browser_of, unchanged):
    victim = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(victim.start())
    attacker = browser_of(world.member2_a)
    Flow(attacker, gallery.client_id, "photos.read").start()  # the attacker has nonces of their own
    with unchanged():
        refused(attacker.post("/o/authorize/", form))
    # ... and the victim's own form still works afterwards.
    assert victim.client.post("/o/authorize/", form).status_code == 302


def test_a_form_replayed_by_the_same_user_from_another_session_is_refused(
    world, gallery, browser_of, unchanged
):
    first = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(first.start())
    second = browser_of(world.member_a)
    with unchanged():
        refused(second.post("/o/authorize/", form))


def test_an_anonymous_post_grants_nothing(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    with unchanged():
        response = Client().post("/o/authorize/", form)
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")


def test_a_cross_site_post_without_the_csrf_token_is_refused(world, gallery, unchanged):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read")
    form = form_of(flow.start())  # the page sets the CSRF cookie; a foreign site cannot read the token
    with unchanged():
        response = browser.post("/o/authorize/", form)
    assert response.status_code == 403
    assert not response.has_header("Location")


def test_the_redirect_of_a_refused_consent_never_carries_a_code(world, gallery, browser_of):
    """Belt and braces for every denial above: the client hears access_denied and its own state only."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    response = flow.client.post("/o/authorize/", {**form, "scope": ["photos.delete"]})
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert "code" not in parse_qs(location.query)


# --- the POST grants what the page showed: plan identity (issue 11, item 1)


def _consented(flow: Flow, scopes: list[str]) -> dict:
    """Consent to `scopes` on the page `flow` shows and trade the code: the token response."""
    return flow.exchange(flow.consent(flow.start(), scopes=scopes)).json()


def _api_scopes(access_token: str) -> str:
    client = Client()
    response = client.get("/api/t/acme/photos/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return response.headers.get("X-OAuth-Scopes", "")


@pytest.mark.parametrize("include_granted", [False, True], ids=["plain", "include_granted_scopes"])
def test_prompt_consent_grants_only_what_is_ticked_again(world, gallery, browser_of, include_granted):
    """A scope granted before, shown again under prompt=consent and unticked, is not granted: not in
    the new token, not in the consent, and taken from the live tokens of the grant too."""
    browser = browser_of(world.admin_a)
    before = _consented(
        Flow(browser, gallery.client_id, "photos.read photos.delete"), ["photos.read", "photos.delete"]
    )
    assert before["scope"] == "photos.delete photos.read"

    extra = {"prompt": "consent", **({"include_granted_scopes": "true"} if include_granted else {})}
    again = Flow(browser, gallery.client_id, "photos.read photos.delete", extra=extra)
    page = again.start()
    assert set(form_of(page)["scope"]) == {"photos.read", "photos.delete"}  # both boxes offered
    token = again.exchange(again.consent(page, scopes=["photos.read"])).json()
    assert token["scope"] == "photos.read"
    assert granted(world.admin_a, gallery) == {"photos.read"}
    assert _api_scopes(before["access_token"]) == "photos.read"  # the earlier token lost it now


def test_prompt_consent_with_nothing_ticked_is_access_denied_and_changes_nothing(
    world, gallery, browser_of, unchanged
):
    browser = browser_of(world.admin_a)
    _consented(
        Flow(browser, gallery.client_id, "photos.read photos.delete"), ["photos.read", "photos.delete"]
    )
    again = Flow(browser, gallery.client_id, "photos.read photos.delete", extra={"prompt": "consent"})
    form = form_of(again.start())
    with unchanged():
        denied(again.client.post("/o/authorize/", {**form, "scope": []}), again.state)


def test_prompt_consent_keeps_what_the_page_did_not_show(world, gallery, browser_of):
    """Decided: an unticked line is taken back; a scope the app did not ask for this time is not
    shown, so not touched. A composite granted before keeps its other parts."""
    browser = browser_of(world.admin_a)
    _consented(Flow(browser, gallery.client_id, "photos.write albums.read"), ["photos.write", "albums.read"])
    again = Flow(browser, gallery.client_id, "photos.read photos.delete", extra={"prompt": "consent"})
    token = again.exchange(again.consent(again.start(), scopes=["photos.read"])).json()
    assert token["scope"] == "photos.read"
    assert granted(world.admin_a, gallery) == {"albums.read", "photos.read", "photos.update", "photos.upload"}


def test_a_form_posted_for_another_tenant_than_its_page_is_refused(world, gallery, browser_of, unchanged):
    """The page planned for Acme; the same form posted as Globex was never shown, whatever the
    user's role there."""
    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role(RoleName.OWNER))
    flow = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.read photos.delete", extra={"tenant": "acme"}
    )
    form = form_of(flow.start())
    assert form["tenant"] == "acme"
    with unchanged():
        refused(flow.client.post("/o/authorize/", {**form, "tenant": "globex"}))


def test_a_form_whose_plan_identity_was_removed_is_refused(world, gallery, browser_of, unchanged):
    """A form signed before the plan was carried (or with it stripped by a key holder) shows no plan."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    payload = signing.loads(form["request_token"], salt=CONSENT_SALT)
    del payload["plan"]
    token = signing.dumps(payload, salt=CONSENT_SALT, compress=True)
    with unchanged():
        refused(flow.client.post("/o/authorize/", {**form, "request_token": token}))


# --- single use under concurrency (issue 11, item 11)


def test_a_form_posted_again_while_its_first_post_runs_gives_one_code(
    world, gallery, browser_of, monkeypatch
):
    """The second post arrives after the first read the session and before it saved it: both find
    the nonce in the session. The database's unique key lets only one through. Deterministic
    (the second request runs inside the first), so it runs on SQLite and PostgreSQL alike."""
    import scopes.consent.views

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    second = Client()
    second.cookies = flow.client.cookies  # the same browser, a second tab
    answers = []
    decide = scopes.consent.views.on_post

    def decide_while_the_other_post_runs(*args, **kwargs):
        if not answers:
            answers.append(second.post("/o/authorize/", form))
        return decide(*args, **kwargs)

    monkeypatch.setattr(scopes.consent.views, "on_post", decide_while_the_other_post_runs)
    first = flow.client.post("/o/authorize/", form)
    codes = [r for r in (first, *answers) if r.status_code == 302 and "code=" in r["Location"]]
    assert len(codes) == 1
    assert Grant.objects.count() == 1


def test_two_simultaneous_posts_of_one_form_give_one_code(
    transactional_db, world, gallery, browser_of, monkeypatch
):
    """Two real requests in two threads, held together until both have read the session.
    PostgreSQL only: SQLite serialises writers per database."""
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    import threading
    from contextlib import suppress

    import scopes.consent.views

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    form = form_of(flow.start())
    barrier = threading.Barrier(2, timeout=5)
    eligible = scopes.consent.views.situation_of

    def wait_for_the_other(*args, **kwargs):
        with suppress(threading.BrokenBarrierError):
            barrier.wait()
        return eligible(*args, **kwargs)

    # Old code checked the nonce in the session only, before this point; new code also claims it in
    # the database before this point, so the loser waits on the unique key and the barrier times out.
    monkeypatch.setattr(scopes.consent.views, "situation_of", wait_for_the_other)
    statuses: list[str] = []

    def post() -> None:
        browser = Client()
        browser.cookies = flow.client.cookies
        try:
            response = browser.post("/o/authorize/", form)
            statuses.append(
                "code" if response.status_code == 302 and "code=" in response["Location"] else "refused"
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == ["code", "refused"]
    assert Grant.objects.count() == 1


# --- connected apps: the revoke and remove forms posted twice at once


def test_a_consent_revoked_by_a_concurrent_request_is_revoked_once(world, gallery, browser_of):
    """Both posts found the consent (their 404 check passed) before either revoked it; the second
    service call then finds it gone: one audit row, no error. Run here in that interleaving."""
    from accounts.constants import AuditAction
    from accounts.models import AuditEvent
    from scopes.consent.services import consent_narrow, consent_revoke

    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read photos.upload")
    flow.exchange(flow.consent(flow.start()))
    stale = Consent.objects.get(user=world.member_a)
    consent_revoke(actor=world.member_a, consent=stale)
    consent_revoke(actor=world.member_a, consent=stale)
    assert consent_narrow(actor=world.member_a, consent=stale, remove=["photos.upload"]) is None
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_REVOKED).count() == 1
    assert not Consent.objects.exists()


# --- /account/apps/ with another user's consent id


def test_account_apps_refuse_another_users_consent(world, browser_of, unchanged):
    consent = ConsentFactory(user=world.member_b, tenant=world.globex, application=world.app)
    consent.scopes.set(Scope.objects.filter(name__in=["photos.read", "profile.read"]))
    own = ConsentFactory(user=world.member_a, tenant=world.acme, application=world.app)
    own.scopes.set(Scope.objects.filter(name__in=["photos.read"]))
    browser = browser_of(world.member_a)
    with unchanged():
        for path in (f"/account/apps/{consent.pk}/revoke/",):
            assert browser.post(path).status_code == 404
        r = browser.post(
            reverse("account-app-narrow", args=[consent.pk]),
            {"scope": ["photos.read"]},
        )
        assert r.status_code == 404
    assert Consent.objects.filter(pk=consent.pk).exists()
