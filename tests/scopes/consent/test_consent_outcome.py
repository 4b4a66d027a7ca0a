"""The consent flow's decision as pure functions: prompt x remembered consent x policy x albums.

`on_get` and `on_post` (scopes.consent.outcome) take a parsed request and a situation read once;
here the situation is built by hand, so every combination is tried without HTTP or a database.
The HTTP tests (test_authorize_flow, test_album_consent and the attacks beside them) prove the wiring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oauthlib.oauth2 import AccessDeniedError
from oauthlib.oauth2.rfc6749.errors import ConsentRequired

from accounts.models import Membership, Role, Tenant, User
from scopes.access.albums import AlbumRequest
from scopes.access.applications import AppScope
from scopes.access.policy import AppPolicy
from scopes.access.rows import GrantRows
from scopes.access.scope_registry import RegistrySnapshot
from scopes.consent.album_pages import AlbumsOnPage
from scopes.consent.authorize import InteractionRequired
from scopes.consent.flow import AuthorizeRequest, Situation
from scopes.consent.outcome import (
    Approve,
    ClientError,
    Deny,
    Grant,
    Refuse,
    ShowPage,
    SignInAgain,
    approved,
    on_get,
    on_post,
)
from scopes.consent.rules import ShownPlan
from scopes.models import Application
from scopes.registry import closure

GRAPH = {
    "photos.write": frozenset({"photos.upload", "photos.update", "photos.delete", "photos.read"}),
    "albums.write": frozenset({"albums.read"}),
}
NAMES = [
    "profile.read",
    "photos.read",
    "photos.upload",
    "photos.update",
    "photos.delete",
    "photos.write",
    "albums.read",
    "albums.write",
]
REGISTRY = RegistrySnapshot({n: f"Do {n}" for n in NAMES}, {n: GRAPH.get(n, frozenset()) for n in NAMES})
NOW = datetime(2026, 1, 1, tzinfo=UTC)
USER = User(pk=1, username="member", is_active=True)
ACME = Tenant(pk=10, slug="acme", name="Acme", is_active=True)
MEMBERSHIP = Membership(pk=4, user=USER, tenant=ACME, role=Role(pk=3, name="Member"))
APP = Application(pk=5, client_id="gallery", name="Gallery")
# The tenant's albums: (id, name, owner id, owner name); 1 is the member's own, 2 a colleague's.
ALBUMS = ((1, "Mine", 1, "member"), (2, "Theirs", 2, "colleague"))
OAUTH = {"client_id": "gallery", "redirect_uri": "http://127.0.0.1/cb", "state": "s"}

subsets = st.lists(st.sampled_from(NAMES), unique=True, max_size=5)
generous = st.one_of(st.just(NAMES), subsets)  # the role and the app often allow everything
prompts = st.sampled_from(
    [
        frozenset(),
        frozenset({"none"}),
        frozenset({"consent"}),
        frozenset({"select_account"}),
        frozenset({"login"}),
    ]
)
policies = st.builds(
    AppPolicy,
    mode=st.sampled_from([None, "any", "approved"]),
    status=st.sampled_from([None, "approved", "blocked", "pending"]),
    capped=st.booleans(),
    cap=st.lists(st.sampled_from(NAMES), unique=True, max_size=4).map(tuple),
)
album_requests = st.one_of(
    st.none(),
    st.builds(
        AlbumRequest,
        actions=st.sampled_from([("albums.read",), ("photos.read",), ("albums.read", "photos.upload")]),
        identifiers=st.sampled_from([None, (1,), (1, 2)]),
    ),
)


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    member = draw(st.booleans())
    consent = draw(st.booleans())
    limited = consent and draw(st.booleans())
    rows = GrantRows(
        user=USER,
        tenant=ACME,
        application_id=APP.pk,
        app_tenant_id=None,
        role_id=3,
        role_name="Member",
        role_grants=tuple((n, "tenant") for n in draw(generous)),
        consent_id=7 if consent else None,
        consented=tuple(draw(subsets)) if consent else (),
        app_allowed=tuple(draw(generous)),
        policy=draw(st.one_of(st.just(AppPolicy()), policies)),
        consent_albums=tuple(draw(st.sampled_from([(), ((1, 1),), ((1, 1), (2, 2))]))) if limited else (),
        albums_limited=limited,
    )
    album_request = draw(album_requests)
    return Situation(
        application=APP,
        registry=REGISTRY,
        app_scopes={
            n: AppScope(required=draw(st.booleans()) and n == "profile.read") for n in rows.app_allowed
        },
        memberships=(MEMBERSHIP,) if member else (),
        membership=MEMBERSHIP if member else None,
        tenant_decided=member and draw(st.booleans()),
        rows=rows if member else None,
        album_request=album_request,
        details_error="",
        tenant_albums=ALBUMS if member and album_request is not None else (),
        signed_in_at=NOW - timedelta(minutes=5),
    )


def request_of(
    s: Situation, prompt: frozenset[str], scopes: list[str], *, include: bool = False
) -> AuthorizeRequest:
    return AuthorizeRequest(
        client_id="gallery", oauth=OAUTH, scopes=tuple(scopes), prompt=prompt, include_granted=include
    )


def allowed_now(s: Situation) -> frozenset[str]:
    """What the grant may carry today: app ∩ the tenant's cap ∩ the role (closed)."""
    assert s.rows is not None
    allowed = closure(s.app_scopes, GRAPH) & closure((n for n, _r in s.rows.role_grants), GRAPH)
    cap = s.rows.policy.cap_closure(GRAPH)
    return allowed & cap if cap is not None else allowed


@settings(max_examples=400, deadline=None)
@given(situations(), prompts, subsets, st.booleans(), st.booleans())
def test_get_answers_follow_the_prompt_the_consent_and_the_policy(s, prompt, requested, again, include):
    if again and s.rows is not None:  # ask again for what was consented: remembered consent may answer
        requested = list(s.rows.consented)
    req = request_of(s, prompt, [n for n in requested if n in s.app_scopes], include=include)
    outcome = on_get(req, s, now=NOW)
    if "login" in prompt:
        assert outcome == SignInAgain()
        return
    silent = "none" in prompt
    if s.membership is None:
        assert outcome == (ClientError(InteractionRequired) if silent else ShowPage(None, None, None))
        return
    if silent:  # prompt=none never shows a page
        assert isinstance(outcome, ClientError | Approve)
    assert s.rows is not None
    if isinstance(outcome, ClientError) and outcome.error is AccessDeniedError:
        assert silent and not s.rows.policy.usable  # only the tenant's policy refuses outright
    if not s.rows.policy.usable:
        assert not isinstance(outcome, Approve)  # a refused app is never answered from memory
    if isinstance(outcome, Approve):
        # Remembered consent answers only a decided tenant, without prompt=consent or select_account,
        # and only with what the consent, the app, the cap and the role allow today.
        assert s.tenant_decided and not prompt & {"consent", "select_account"}
        assert s.rows.consent_id is not None
        assert closure(outcome.scopes, GRAPH) <= allowed_now(s) & closure(s.rows.consented, GRAPH)
        if s.album_request is None:
            assert outcome.albums is None
        else:
            assert outcome.albums is not None and outcome.albums <= {a for a, _o in s.rows.consent_albums}
    if isinstance(outcome, ShowPage):
        assert outcome.plan is not None and outcome.shown is not None
        assert outcome.shown.fresh == ("consent" in prompt)
        assert set(outcome.shown.offered) == outcome.plan.offered_names
        if "consent" in prompt:
            assert not outcome.plan.already_granted  # prompt=consent asks for everything again
    if isinstance(outcome, ClientError) and outcome.error is ConsentRequired:
        assert silent and s.tenant_decided


@settings(max_examples=400, deadline=None)
@given(situations(), st.booleans(), subsets, subsets, st.lists(st.sampled_from(["1", "2", "x"]), max_size=3))
def test_post_grants_only_what_the_page_showed_and_the_grant_allows_now(s, fresh, requested, ticked, albums):
    if s.membership is None:
        return
    page = on_get(request_of(s, frozenset({"consent"}) if fresh else frozenset(), requested), s, now=NOW)
    if not isinstance(page, ShowPage) or page.shown is None or page.albums is None:
        return
    answer = on_post(
        s,
        requested=[*requested, *(s.album_request.actions if s.album_request else ())],
        shown=page.shown,
        albums_shown=AlbumsOnPage(
            request=page.albums.request,
            shown=page.albums.plan and _shown(page.albums),
            widens=page.albums.widens,
        ),
        tenant_slug="acme",
        ticked=ticked,
        ticked_albums=albums,
    )
    assert s.rows is not None
    if not s.rows.policy.usable or (page.plan and page.plan.blocked_required):
        assert answer == Deny()  # the page offered only Deny: a forged Allow gets nothing
        return
    assert isinstance(answer, Grant | Deny)
    if isinstance(answer, Grant):
        assert set(answer.scopes) <= set(page.shown.offered) | set(page.shown.already_granted)
        assert closure(answer.scopes, GRAPH) <= allowed_now(s)
        code = approved(s, answer, consent_id=7, include_granted=True)
        assert set(answer.scopes) <= closure(code.scopes, GRAPH)  # the code carries what was granted
        assert closure(code.scopes, GRAPH) <= allowed_now(s)  # and never more than the grant allows


def _shown(albums: AlbumsOnPage):
    from scopes.consent.albums import ShownAlbums

    assert albums.plan is not None
    return ShownAlbums.of(albums.plan)


def test_a_post_for_another_tenant_than_the_page_showed_is_refused():
    s = Situation(
        application=APP,
        registry=REGISTRY,
        app_scopes={"photos.read": AppScope()},
        memberships=(MEMBERSHIP,),
        membership=MEMBERSHIP,
        tenant_decided=True,
        rows=None,
        album_request=None,
        details_error="",
        tenant_albums=(),
        signed_in_at=None,
    )
    shown = ShownPlan(fresh=False, tenant_id=99, offered=("photos.read",), already_granted=())
    answer = on_post(
        s,
        requested=["photos.read"],
        shown=shown,
        albums_shown=AlbumsOnPage(request=None),
        tenant_slug="acme",
        ticked=["photos.read"],
        ticked_albums=[],
    )
    assert isinstance(answer, Refuse)


NO_POLICY = AppPolicy()


def remembered(*, policy: AppPolicy = NO_POLICY, decided: bool = True, limited: bool = False) -> Situation:
    """A member who already granted photos.read and albums.read to the app, in a tenant allowing it."""
    rows = GrantRows(
        user=USER,
        tenant=ACME,
        application_id=APP.pk,
        app_tenant_id=None,
        role_id=3,
        role_name="Member",
        role_grants=tuple((n, "tenant") for n in NAMES),
        consent_id=7,
        consented=("photos.read", "albums.read"),
        app_allowed=tuple(NAMES),
        policy=policy,
        albums_limited=limited,
    )
    return Situation(
        application=APP,
        registry=REGISTRY,
        app_scopes={n: AppScope() for n in NAMES},
        memberships=(MEMBERSHIP,),
        membership=MEMBERSHIP,
        tenant_decided=decided,
        rows=rows,
        album_request=None,
        details_error="",
        tenant_albums=(),
        signed_in_at=NOW,
    )


BLOCKED = AppPolicy(status="blocked")
APPROVED_ONLY = AppPolicy(mode="approved")


@pytest.mark.parametrize(
    ("prompt", "situation", "answer"),
    [
        # prompt          remembered consent in a tenant that...              answers
        ((), remembered(), "approve"),
        (("none",), remembered(), "approve"),
        (("consent",), remembered(), "page"),
        (("select_account",), remembered(), "page"),
        (("login",), remembered(), "sign in"),
        ((), remembered(decided=False), "page"),  # several tenants, none named: the user picks
        (("none",), remembered(decided=False), InteractionRequired),
        ((), remembered(policy=BLOCKED), "page"),  # the page says why, and offers Deny
        (("none",), remembered(policy=BLOCKED), AccessDeniedError),
        (("none",), remembered(policy=APPROVED_ONLY), AccessDeniedError),
        ((), remembered(limited=True), "page"),  # an unlimited request would widen an album limit
        (("none",), remembered(limited=True), ConsentRequired),
    ],
)
def test_remembered_consent_by_prompt_and_policy(prompt, situation, answer):
    outcome = on_get(request_of(situation, frozenset(prompt), ["photos.read"]), situation, now=NOW)
    if answer == "approve":
        assert outcome == Approve(MEMBERSHIP, ("photos.read",), None)
    elif answer == "page":
        assert isinstance(outcome, ShowPage) and outcome.plan is not None
    elif answer == "sign in":
        assert outcome == SignInAgain()
    else:
        assert isinstance(outcome, ClientError) and outcome.error is answer


def test_include_granted_scopes_adds_what_stands_of_the_remembered_consent():
    s = remembered()
    outcome = on_get(request_of(s, frozenset(), ["photos.read"], include=True), s, now=NOW)
    assert outcome == Approve(MEMBERSHIP, ("albums.read", "photos.read"), None)


def test_max_age_passed_signs_in_again_or_answers_login_required_when_silent():
    from oauthlib.oauth2.rfc6749.errors import LoginRequired

    s = remembered()
    later = NOW + timedelta(seconds=61)
    loud = AuthorizeRequest(client_id="gallery", oauth=OAUTH, scopes=("photos.read",), max_age="60")
    silent = AuthorizeRequest(
        client_id="gallery", oauth=OAUTH, scopes=("photos.read",), max_age="60", prompt=frozenset({"none"})
    )
    assert on_get(loud, s, now=later) == SignInAgain()
    assert on_get(silent, s, now=later) == ClientError(LoginRequired, name_app=False)
    assert isinstance(on_get(loud, s, now=NOW), Approve)
