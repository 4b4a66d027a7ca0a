"""The tenant app policy (issue 13): in the grant's standing, on the consent page, in the API."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from accounts.models import AuditEvent, Membership
from scopes.access import cache as context_cache
from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.access.selectors import role_reaches
from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, Scope
from scopes.tenant_policy import services
from scopes.tenant_policy.models import AccessRequest, RequestKind, RequestStatus, TenantApp, TenantAppPolicy
from tests.oauth import REDIRECT_URI, Flow, refresh

pytestmark = pytest.mark.django_db

READ = "photos.read"


@pytest.fixture
def app(world) -> Application:
    world.app.redirect_uris = REDIRECT_URI
    world.app.save()
    for name in [READ, "photos.upload", "photos.delete", "albums.read", "offline_access"]:
        ApplicationScope.objects.get_or_create(application=world.app, scope=Scope.objects.get(name=name))
    return world.app


def approved_only(world) -> None:
    services.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)


def test_owner_and_admin_hold_tenant_admin_and_members_do_not(world):
    for user, holds in [
        (world.owner_a, True),
        (world.admin_a, True),
        (world.member_a, False),
        (world.guest_a, False),
    ]:
        role_id = Membership.objects.get(user=user, tenant=world.acme).role_id
        assert (ScopeName.TENANT_ADMIN in role_reaches(role_id)) is holds


def test_blocking_an_app_fails_its_live_token_on_the_next_request(world, app, api_client):
    client = api_client(world.member_a, world.acme, [READ])
    assert client.get("/api/t/acme/photos/").status_code == 200
    services.tenant_app_set(actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED)
    response = client.get("/api/t/acme/photos/")
    assert response.status_code == 401
    assert "blocked by Acme's app policy" in response.json()["detail"]
    # Another tenant's use of the app is untouched.
    other = api_client(world.member_b, world.globex, [READ])
    assert other.get("/api/t/globex/photos/").status_code == 200


def test_approved_only_refuses_an_undecided_app_and_accepts_it_once_approved(world, app, api_client):
    client = api_client(world.member_a, world.acme, [READ])
    approved_only(world)
    assert client.get("/api/t/acme/photos/").status_code == 401
    services.tenant_app_set(
        actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.APPROVED
    )
    assert client.get("/api/t/acme/photos/").status_code == 200


def test_a_lowered_cap_applies_to_the_live_token(world, app, api_client):
    client = api_client(world.member_a, world.acme, [READ, "albums.read"])
    assert client.get("/api/t/acme/albums/").status_code == 200
    services.tenant_app_set(
        actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.APPROVED, cap=[READ]
    )
    response = client.get("/api/t/acme/albums/")
    assert response.status_code == 403 and response.json()["reason"] == "scope_missing"
    assert response.headers["X-OAuth-Scopes"] == READ
    assert client.get("/api/t/acme/photos/").status_code == 200


@pytest.mark.parametrize("change", ["block", "cap", "policy"])
def test_raw_sql_changes_to_the_policy_reach_a_cached_context(world, app, api_client, change):
    """Freshness: the policy rows are versioned by triggers, so no signal or service is needed."""
    client = api_client(world.member_a, world.acme, [READ, "albums.read"])
    decision = services.tenant_app_set(
        actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.APPROVED
    )
    services.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.ANY)
    assert client.get("/api/t/acme/albums/").status_code == 200  # cached now
    assert len(context_cache.contexts) == 1
    with connection.cursor() as cursor:
        if change == "block":
            cursor.execute("UPDATE scopes_tenantapp SET status = 'blocked' WHERE id = %s", [decision.pk])
        elif change == "cap":
            cursor.execute("UPDATE scopes_tenantapp SET capped = %s WHERE id = %s", [True, decision.pk])
            cursor.execute(
                "INSERT INTO scopes_tenantapp_cap (tenantapp_id, scope_id) VALUES (%s, %s)",
                [decision.pk, Scope.objects.get(name=READ).pk],
            )
        else:
            cursor.execute("UPDATE scopes_tenantapp SET status = 'pending' WHERE id = %s", [decision.pk])
            cursor.execute(
                "UPDATE scopes_tenantapppolicy SET mode = 'approved' WHERE tenant_id = %s", [world.acme.pk]
            )
    response = client.get("/api/t/acme/albums/")
    assert response.status_code == (403 if change == "cap" else 401)


def test_the_tenants_own_app_counts_as_approved(world, app, api_client):
    app.tenant = world.acme
    app.save()
    client = api_client(world.member_a, world.acme, [READ])
    approved_only(world)
    assert client.get("/api/t/acme/photos/").status_code == 200


# --- The consent page and the OAuth endpoints


def test_the_consent_page_explains_the_policy_and_the_app_gets_access_denied(world, app):
    approved_only(world)
    browser = Client()
    browser.force_login(world.member_a)
    flow = Flow(browser, app.client_id, READ)
    page = flow.start()
    assert page.status_code == 200
    html = page.content.decode()
    assert "blocked by Acme&#x27;s app policy" in html
    assert "/account/requests/new/?tenant=acme&amp;kind=app&amp;app=test-gallery" in html
    assert 'value="allow"' not in html
    # Even a forged "allow" gets nothing.
    denied = flow.consent(page, scopes=[READ], tenant="acme", decision="allow")
    assert flow.redirect_params(denied)["error"] == "access_denied"
    silent = Flow(browser, app.client_id, READ, extra={"prompt": "none"}).start()
    assert Flow.redirect_params(silent)["error"] == "access_denied"


def test_remembered_consent_does_not_bypass_a_block(world, app):
    browser = Client()
    browser.force_login(world.member_a)
    first = Flow(browser, app.client_id, READ)
    assert "code" in first.redirect_params(first.authorize())
    services.tenant_app_set(actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED)
    again = Flow(browser, app.client_id, READ).start()
    assert again.status_code == 200 and b"have blocked it" in again.content


def test_the_cap_greys_out_scopes_on_the_consent_page_with_an_ask_link(world, app):
    services.tenant_app_set(
        actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.APPROVED, cap=[READ]
    )
    browser = Client()
    browser.force_login(world.member_a)
    flow = Flow(browser, app.client_id, f"{READ} photos.upload")
    page = flow.start()
    html = page.content.decode()
    assert "Acme&#x27;s administrators have not approved this for this app" in html
    assert 'data-ask="photos.upload"' in html
    tokens = flow.exchange(flow.consent(page, scopes=[READ, "photos.upload"])).json()
    assert tokens["scope"] == READ


def test_refresh_is_refused_once_the_app_is_blocked(world, app):
    browser = Client()
    browser.force_login(world.member_a)
    flow = Flow(browser, app.client_id, f"{READ} offline_access")
    tokens = flow.exchange(flow.authorize()).json()
    services.tenant_app_set(actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED)
    response = refresh(app.client_id, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_role_forbids_carries_the_request_access_link(world, app, api_client):
    client = api_client(world.guest_a, world.acme, ["photos.upload"])
    response = client.post("/api/t/acme/photos/", {}, format="multipart")
    body = response.json()
    assert response.status_code == 403 and body["reason"] == "role_forbids"
    assert body["request_access"] == (
        "http://testserver/account/requests/new/?tenant=acme&kind=scope&scope=photos.upload"
    )
    page = Client()
    page.force_login(world.guest_a)
    asked = page.post(
        "/account/requests/new/",
        {"tenant": "acme", "kind": "scope", "scope": "photos.upload", "message": "please"},
    )
    assert asked.status_code == 302
    request = AccessRequest.all_tenants.get()
    assert (request.requester, request.kind, request.message) == (world.guest_a, "scope", "please")


# --- Deciding


def test_approving_an_app_request_applies_the_cap_audits_and_mails(world, app):
    world.member_a.email = "member@example.com"
    world.member_a.save()
    approved_only(world)
    request = services.access_request_file(
        requester=world.member_a,
        tenant=world.acme,
        kind=RequestKind.APP,
        application=app,
        message="for the trip",
    )
    assert TenantApp.all_tenants.get().status == AppStatus.PENDING
    services.access_request_decide(
        actor=world.admin_a,
        tenant=world.acme,
        request_id=request.pk,
        approve=True,
        cap=[READ],
        note="read only",
    )
    decision = TenantApp.all_tenants.get()
    assert decision.status == AppStatus.APPROVED and decision.capped
    assert [s.name for s in decision.cap.all()] == [READ]
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.decided_by == world.admin_a
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert (
        actions[-4:]
        == ["app_policy.changed", "access.requested", "tenant_app.changed", "access.approved"][-4:]
    )
    assert len(mail.outbox) == 0  # sent on commit (the test's transaction never commits)


@pytest.mark.django_db(transaction=True)
def test_the_requester_is_mailed_when_a_request_is_decided(world, app):
    world.member_a.email = "member@example.com"
    world.member_a.save()
    request = services.access_request_file(
        requester=world.member_a, tenant=world.acme, kind=RequestKind.APP, application=app
    )
    services.access_request_decide(
        actor=world.owner_a, tenant=world.acme, request_id=request.pk, approve=False, note="not now"
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["member@example.com"]
    assert "refused" in mail.outbox[0].subject and "not now" in mail.outbox[0].body


def test_approving_a_scope_request_by_changing_the_role(world, app):
    request = services.access_request_file(
        requester=world.guest_a,
        tenant=world.acme,
        kind=RequestKind.SCOPE,
        application=app,
        scopes=["photos.delete"],
    )
    services.access_request_decide(
        actor=world.admin_a,
        tenant=world.acme,
        request_id=request.pk,
        approve=True,
        role=world.role("Member"),
    )
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == "Member"


def test_the_requests_page_and_the_administrators_page(world, app):
    request = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    guest = Client()
    guest.force_login(world.guest_a)
    assert (
        f'data-request="{request.pk}" data-status="pending"'
        in guest.get("/account/requests/").content.decode()
    )
    assert guest.get("/account/org/acme/").status_code == 404  # not an administrator
    owner = Client()
    owner.force_login(world.owner_a)
    assert b"guest_a" in owner.get("/account/org/acme/").content
    response = owner.post(
        f"/account/org/acme/requests/{request.pk}/decide/",
        {"decision": "approve", "role": world.role("Member").pk, "note": "welcome"},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.note == "welcome"
    assert 'data-status="approved"' in guest.get("/account/requests/").content.decode()
    owner.post("/account/org/acme/policy/", {"mode": "approved"})
    assert TenantAppPolicy.all_tenants.get().mode == "approved"
    owner.post("/account/org/acme/apps/", {"application": app.pk, "status": "blocked"})
    assert TenantApp.all_tenants.get(application=app).status == "blocked"


def test_the_explain_page_names_the_policy(world, app, mint_token):
    token = mint_token(world.member_a, world.acme, [READ])
    services.tenant_app_set(actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED)
    world.owner_a.is_staff = True
    world.owner_a.save()
    staff = Client()
    staff.force_login(world.owner_a)
    response = staff.post(
        "/admin/explain/",
        {"token": token.token, "tenant": world.acme.pk, "action": READ, "user": world.member_a.pk},
    )
    assert b"blocked by Acme&#x27;s app policy" in response.content
