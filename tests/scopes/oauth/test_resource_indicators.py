"""RFC 8707 resource indicators: a token bound to one resource (a tenant's photo API, its audit API,
userinfo) is good there and refused everywhere else with `wrong_resource`; the authorization and
token requests accept `resource`, refuse what is not ours (`invalid_target`), and a refresh may
narrow the resource, never widen it. Without `resource`, a token is good wherever its tenant,
scopes and role reach, as before.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from accounts.authn import MFA, NO_SIGN_IN, Requirement, SignIn
from api.resource_metadata import decision_resource
from scopes.access.audience import USERINFO_PATH, bound, parse_resource, resource_at, resource_problem
from scopes.access.decision import Reason, Step, Target, decide
from scopes.constants import ScopeName as S
from scopes.models import AccessToken, Grant, RefreshToken
from tests.oauth import Flow, code_request, introspect, refresh

pytestmark = pytest.mark.django_db

ISSUER = "http://testserver"
PHOTOS = f"{ISSUER}/api/t/acme/"
AUDIT = f"{ISSUER}/api/t/acme/audit/"
USERINFO = f"{ISSUER}/o/userinfo/"
GLOBEX = f"{ISSUER}/api/t/globex/"


# --- the rule, pure ---------------------------------------------------------------------------------


def test_the_identifiers_are_the_metadata_documents_resources(db):
    for path in ("/api/t/acme/", "/api/t/acme/audit/", "/o/userinfo/"):
        published = Client().get(f"/.well-known/oauth-protected-resource{path}").json()["resource"]
        assert parse_resource(published, ISSUER) is not None
        assert resource_at(path).identifier(ISSUER) == published
    userinfo = Client().get("/.well-known/oauth-protected-resource/o/userinfo/").json()
    assert userinfo["scopes_supported"] == ["email", "openid", "profile"]
    assert userinfo["authorization_servers"] == [ISSUER]
    assert reverse("oauth2_provider:user-info") == USERINFO_PATH
    assert resource_at("/api/t/acme/photos/7/").identifier(ISSUER) == PHOTOS
    assert resource_at("/api/t/acme/audit/?page_size=1").identifier(ISSUER) == AUDIT
    assert resource_at("/o/userinfo/").identifier(ISSUER) == USERINFO


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/api/t/acme/",
        f"{ISSUER}/api/t/acme",  # not the identifier: exact match only
        f"{ISSUER}/api/t/acme/photos/",
        f"{ISSUER}/api/t/acme/#frag",
        f"{ISSUER}/api/t/acme/?x=1",
        "http://user@testserver/api/t/acme/",
        f"{ISSUER}/",
        f"{ISSUER}/o/token/",
        "/api/t/acme/",
        "urn:photos",
    ],
)
def test_only_our_identifiers_exactly_are_resources(uri):
    assert parse_resource(uri, ISSUER) is None


def test_the_decision_refuses_a_token_bound_elsewhere_before_the_tenant():
    common = dict(action_scope="photos.read", token_scopes=["photos.read"], role_grants=[], implications={})
    refused = decide(**common, audience=(AUDIT,), resource=PHOTOS, tenant_problem="another tenant")
    assert (refused.status, refused.reason) == (401, Reason.WRONG_RESOURCE)
    assert [step.step for step in refused.trace] == [Step.TOKEN, Step.RESOURCE]
    # Not bound: the step passes and the decision goes on (here to the role, which refuses).
    unbound = decide(**common, audience=(), resource=PHOTOS)
    assert unbound.reason == Reason.ROLE_FORBIDS
    bound_here = decide(**common, audience=(PHOTOS,), resource=PHOTOS)
    assert bound_here.reason == Reason.ROLE_FORBIDS
    assert resource_problem((PHOTOS,), None) is not None  # not at a resource of ours: fails closed


@given(
    resource=st.one_of(st.none(), st.sampled_from([PHOTOS, AUDIT, USERINFO, GLOBEX]), st.text(max_size=40)),
    token_scopes=st.lists(st.sampled_from(["photos.read", "photos.write", "albums.read"]), max_size=3),
    reach=st.sampled_from(["own", "tenant"]),
    target=st.sampled_from(
        [
            None,
            Target(exists_in_tenant=True, owner_is_user=False),
            Target(exists_in_tenant=True, owner_is_user=True, album_id=2, placing=True),
        ]
    ),
    tenant_problem=st.sampled_from([None, "another tenant"]),
    token_problem=st.sampled_from([None, "the token has expired"]),
    albums=st.one_of(st.none(), st.frozensets(st.integers(1, 4), max_size=3)),
    requirement=st.sampled_from([Requirement(), Requirement(acr=MFA), Requirement(max_age=60)]),
    sign_in=st.sampled_from([NO_SIGN_IN, SignIn(acr=MFA, amr=("pwd", "otp"), auth_time=None)]),
)
def test_where_an_unbound_token_is_used_never_changes_its_decision(
    resource, token_scopes, reach, target, tenant_problem, token_problem, albums, requirement, sign_in
):
    """The API leaves the resource out for an unbound token (`decision_resource`): sound only because
    the decision is the same, step by step, whatever the resource is."""
    common = dict(
        action_scope="photos.read",
        token_scopes=token_scopes,
        role_grants=[("photos.read", reach)],
        implications={},
        target=target,
        tenant_problem=tenant_problem,
        token_problem=token_problem,
        albums=albums,
        requirement=requirement,
        sign_in=sign_in,
        now=datetime(2026, 12, 7, tzinfo=UTC),
        audience=(),
    )
    assert decide(**common, resource=resource) == decide(**common, resource=None)


@pytest.mark.parametrize("audience", [(), [], (PHOTOS,), ("",), ("invalid",), [AUDIT, PHOTOS]])
def test_bound_is_exactly_when_where_a_token_is_used_matters(audience):
    # Not at a resource of ours (None): only a bound token is refused there.
    assert bound(audience) == (resource_problem(audience, None) is not None)


def test_the_api_works_out_the_resource_for_a_bound_token_only():
    request = RequestFactory().get("/api/t/acme/photos/")
    assert decision_resource(request, ()) is None
    assert decision_resource(request, (AUDIT,)) == PHOTOS  # bound: where it is, to compare
    assert decision_resource(request, [PHOTOS]) == PHOTOS
    outside = RequestFactory().get("/account/apps/")
    assert decision_resource(outside, (PHOTOS,)) is None  # not at a resource: a bound token fails closed
    assert resource_problem((PHOTOS,), decision_resource(outside, (PHOTOS,))) is not None


# --- the API, userinfo and introspection ------------------------------------------------------------


@pytest.fixture
def owner_token(world, api_client):
    def make(resource: str | None, scopes=(S.PHOTOS_READ, S.AUDIT_READ, S.OPENID)):
        extra = {} if resource is None else {"resource": [resource]}
        return api_client(world.owner_a, world.acme, list(scopes), **extra)

    return make


def assert_wrong_resource(response, here: str):
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "invalid_token" and body["reason"] == "wrong_resource", body
    assert here in body["detail"]
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.attack
def test_an_audit_token_is_refused_by_the_photo_api_and_the_reverse(owner_token, unchanged):
    audit, photos = owner_token(AUDIT), owner_token(PHOTOS)
    with unchanged():
        assert audit.get("/api/t/acme/audit/").status_code == 200
        assert photos.get("/api/t/acme/photos/").status_code == 200
        refused = audit.get("/api/t/acme/photos/")
        assert_wrong_resource(refused, PHOTOS)
        assert (
            'resource_metadata="http://testserver/.well-known/oauth-protected-resource/api/t/acme/"'
            in refused["WWW-Authenticate"]
        )
        assert_wrong_resource(audit.delete("/api/t/acme/photos/1/"), PHOTOS)
        assert_wrong_resource(photos.get("/api/t/acme/audit/"), AUDIT)
        assert_wrong_resource(audit.get("/api/t/acme/albums/"), PHOTOS)


@pytest.mark.attack
def test_a_token_bound_to_an_api_is_refused_by_userinfo_and_the_reverse(owner_token, unchanged):
    photos, userinfo = owner_token(PHOTOS), owner_token(USERINFO)
    header = {"HTTP_AUTHORIZATION": photos._credentials["HTTP_AUTHORIZATION"]}
    with unchanged():
        refused = Client().get("/o/userinfo/", **header)
        assert refused.status_code == 401 and refused.json()["reason"] == "wrong_resource"
        assert USERINFO in refused.json()["detail"]
        assert refused["WWW-Authenticate"] == (
            'Bearer realm="userinfo", error="invalid_token", resource_metadata='
            '"http://testserver/.well-known/oauth-protected-resource/o/userinfo/"'
        )
        ok = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=userinfo._credentials["HTTP_AUTHORIZATION"])
        assert ok.status_code == 200, ok.content
        assert_wrong_resource(userinfo.get("/api/t/acme/photos/"), PHOTOS)


def test_an_unbound_token_works_everywhere_as_before(owner_token):
    anywhere = owner_token(None)
    assert anywhere.get("/api/t/acme/photos/").status_code == 200
    assert anywhere.get("/api/t/acme/audit/").status_code == 200
    header = anywhere._credentials["HTTP_AUTHORIZATION"]
    assert Client().get("/o/userinfo/", HTTP_AUTHORIZATION=header).status_code == 200


def test_introspection_reports_the_audience(owner_token, resource_server):
    photos, anywhere = owner_token(PHOTOS), owner_token(None)
    assert introspect(photos.token.token)["aud"] == [PHOTOS]
    assert "aud" not in introspect(anywhere.token.token)


def test_a_bound_token_costs_no_extra_query(owner_token):
    """The audience comes with the token's context row: a bound token's request costs what an
    unbound one's does, cold and warm."""

    def cost(client, status=200) -> tuple[int, int]:
        counts = []
        for _ in range(2):  # cold, then warm
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/api/t/acme/audit/?page_size=1").status_code == status
            counts.append(len(queries))
        return counts[0], counts[1]

    cost(owner_token(None))  # the process's first request reads what every request shares (the registry)
    assert cost(owner_token(AUDIT)) == cost(owner_token(None))
    refused = cost(owner_token(PHOTOS), status=401)  # refused before any page query
    assert refused[1] <= cost(owner_token(None))[1] and refused[0] <= cost(owner_token(None))[0]


# --- the authorization request ----------------------------------------------------------------------


def code_flow(browser, client_id, scope, **extra):
    flow = Flow(browser, client_id, scope, extra=extra)
    return flow, flow.start()


def test_the_consent_page_names_the_resource_and_the_code_carries_it(world, gallery, browser_of):
    flow, page = code_flow(browser_of(world.member_a), gallery.client_id, "photos.read", resource=PHOTOS)
    html = page.content.decode()
    assert page.status_code == 200, html[:300]
    assert f'data-resource="{PHOTOS}"' in html and "the photo API of Acme" in html
    answer = flow.consent(page)
    code = Flow.redirect_params(answer)["code"]
    assert Grant.objects.get(code=code).resource == [PHOTOS]
    assert AccessToken.objects.get(pk=_token_id(flow.exchange(answer).json())).resource == [PHOTOS]


def _token_id(tokens: dict) -> int:
    checksum = hashlib.sha256(tokens["access_token"].encode()).hexdigest()
    return AccessToken.objects.get(token_checksum=checksum).pk


def test_a_remembered_consent_binds_the_token_too(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first, page = code_flow(browser, gallery.client_id, "photos.read")
    first.consent(page)
    _again, answer = code_flow(browser, gallery.client_id, "photos.read", resource=AUDIT, prompt="none")
    code = Flow.redirect_params(answer)["code"]
    assert Grant.objects.get(code=code).resource == [AUDIT]


INVALID = {
    "another server": "https://evil.example/api/t/acme/",
    "not an identifier": f"{ISSUER}/api/t/acme/photos/",
    "a fragment": f"{ISSUER}/api/t/acme/#x",
    "relative": "/api/t/acme/",
    "the host itself": ISSUER,
}


@pytest.mark.attack
@pytest.mark.parametrize("case", sorted(INVALID))
def test_a_resource_not_ours_is_invalid_target(case, world, gallery, browser_of, unchanged):
    flow = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.read", extra={"resource": INVALID[case]}
    )
    with unchanged():
        params = Flow.redirect_params(flow.start())
    assert params["error"] == "invalid_target" and params["state"] == flow.state
    assert params["iss"] == ISSUER and "code" not in params


@pytest.mark.attack
def test_a_resource_of_another_tenant_than_asked_is_invalid_target(world, gallery, browser_of, unchanged):
    flow = Flow(
        browser_of(world.member_a),
        gallery.client_id,
        "photos.read",
        extra={"resource": GLOBEX, "tenant": "acme"},
    )
    with unchanged():
        assert Flow.redirect_params(flow.start())["error"] == "invalid_target"


@pytest.mark.attack
def test_a_resource_in_a_tenant_the_user_is_not_in_issues_nothing(world, gallery, browser_of, unchanged):
    """member_a is not in Globex: whatever the page or a forged form picks, no code for it."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"resource": GLOBEX})
    with unchanged():
        answer = flow.authorize(tenant="acme")
        assert Flow.redirect_params(answer)["error"] == "invalid_target"


@pytest.mark.attack
def test_resource_must_not_be_repeated(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    with unchanged():
        answer = flow.client.get(
            "/o/authorize/?"
            + "&".join(f"{k}={v}" for k, v in flow.params.items())
            + f"&resource={PHOTOS}&resource={AUDIT}"
        )
    params = Flow.redirect_params(answer)
    assert params["error"] == "invalid_request" and "resource" in params["error_description"]


# --- the token request and refresh ------------------------------------------------------------------


def authorized(world, gallery, browser_of, *, resource: str | None, scope="photos.read offline_access"):
    extra = {"resource": resource} if resource else {}
    flow = Flow(browser_of(world.member_a), gallery.client_id, scope, extra=extra)
    return flow, flow.authorize()


def test_the_token_request_may_narrow_an_unbound_code(world, gallery, browser_of):
    flow, answer = authorized(world, gallery, browser_of, resource=None)
    code = Flow.redirect_params(answer)["code"]
    tokens = Client().post(
        "/o/token/", {**code_request(code, gallery.client_id, flow.verifier), "resource": AUDIT}
    )
    assert tokens.status_code == 200, tokens.content
    assert AccessToken.objects.get(pk=_token_id(tokens.json())).resource == [AUDIT]


@pytest.mark.attack
@pytest.mark.parametrize("asked", [AUDIT, GLOBEX, "https://evil.example/", f"{ISSUER}/api/t/acme/#x"])
def test_the_token_request_cannot_change_a_bound_codes_resource(asked, world, gallery, browser_of, unchanged):
    flow, answer = authorized(world, gallery, browser_of, resource=PHOTOS)
    code = Flow.redirect_params(answer)["code"]
    with unchanged():
        refused = Client().post(
            "/o/token/", {**code_request(code, gallery.client_id, flow.verifier), "resource": asked}
        )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target", refused.content


@pytest.mark.attack
def test_a_token_request_for_another_tenants_api_is_invalid_target(world, gallery, browser_of, unchanged):
    flow, answer = authorized(world, gallery, browser_of, resource=None)
    code = Flow.redirect_params(answer)["code"]
    with unchanged():
        refused = Client().post(
            "/o/token/", {**code_request(code, gallery.client_id, flow.verifier), "resource": GLOBEX}
        )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


@pytest.mark.attack
def test_refresh_keeps_or_narrows_the_resource_and_never_widens_it(world, gallery, browser_of, unchanged):
    flow, answer = authorized(world, gallery, browser_of, resource=PHOTOS)
    tokens = flow.exchange(answer).json()
    with unchanged():
        widened = refresh(gallery.client_id, tokens["refresh_token"], resource=AUDIT)
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target", widened.content
    kept = refresh(gallery.client_id, tokens["refresh_token"])
    assert kept.status_code == 200, kept.content
    assert AccessToken.objects.get(pk=_token_id(kept.json())).resource == [PHOTOS]
    assert RefreshToken.objects.filter(resource=[PHOTOS]).exists()


def test_refresh_narrows_an_unbound_grant(world, gallery, browser_of):
    flow, answer = authorized(world, gallery, browser_of, resource=None)
    tokens = flow.exchange(answer).json()
    narrowed = refresh(gallery.client_id, tokens["refresh_token"], resource=PHOTOS)
    assert narrowed.status_code == 200, narrowed.content
    assert AccessToken.objects.get(pk=_token_id(narrowed.json())).resource == [PHOTOS]
    # ...and the narrowed refresh token cannot widen back.
    again = refresh(gallery.client_id, narrowed.json()["refresh_token"], resource=AUDIT)
    assert again.status_code == 400 and again.json()["error"] == "invalid_target"


@pytest.mark.attack
def test_a_forged_form_choosing_another_tenant_than_the_resources_writes_nothing(
    world, gallery, browser_of, unchanged
):
    """member_a is in Acme and Globex; the page for Acme's photo API shows no organisation picker,
    and a form sent with tenant=globex anyway is refused (the page did not show it: a page here,
    nothing sent to the app) before any consent is written."""
    from accounts.constants import RoleName
    from scopes.roles.services import membership_set

    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role(RoleName.MEMBER))
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"resource": PHOTOS})
    page = flow.start()
    assert page.status_code == 200 and 'id="tenant-switch"' not in page.content.decode()
    with unchanged():
        answer = flow.consent(page, tenant="globex")
    assert answer.status_code == 400 and not answer.has_header("Location")
