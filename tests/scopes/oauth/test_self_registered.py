"""Self-registered clients (client ID metadata documents) as governed apps (docs/security.md,
"Self-registered clients"): the scopes they may ask for, where they came from, the consent page's
"not verified", the tenant's approval queue, blocked domains, and the expiry of unused ones.

The document is served by the `agent` fixture (tests/scopes/oauth/conftest.py): over TLS on
loopback under a name of the test's own, fetched as in production through the outbound guard.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from scopes.access import cache as context_cache
from scopes.access.applications import app_scopes
from scopes.access.policy import AppPolicyMode
from scopes.models import AccessToken, Application, Consent, Grant, RefreshToken
from scopes.tenant_policy import services
from scopes.tenant_policy.models import AccessRequest, BlockedClientDomain, RequestStatus
from scopes.tenant_policy.selectors import decidable_apps
from tests.oauth import REDIRECT_URI, Flow, form_fields, refresh
from tests.scopes.oauth.agents import AGENT_HOST, Agent

pytestmark = pytest.mark.django_db

READ = "photos.read"
MAY_ASK = {READ, "albums.read", "offline_access"}  # declared, within SELF_REGISTERED_CLIENT_SCOPES


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def registered(agent: Agent) -> Application:
    return Application.objects.get(client_id=agent.client_id)


def connect(world, agent: Agent, scope: str = READ, ticks: list[str] | None = None) -> dict:
    """member_a connects the agent in Acme; the token response."""
    flow = Flow(browser(world.member_a), agent.client_id, scope)
    response = flow.exchange(flow.authorize(scopes=ticks))  # remembered consent answers without a page
    assert response.status_code == 200, response.content
    return response.json()


def test_an_agent_registers_itself_and_is_shown_as_not_verified(world, agent):
    flow = Flow(browser(world.member_a), agent.client_id, f"{READ} albums.read")
    page = flow.start()
    html = html_lib.unescape(page.content.decode())
    assert page.status_code == 200
    assert "not verified by Acme" in html and agent.client_id in html
    app = registered(agent)
    assert (app.registration_source, app.client_type, app.authorization_grant_type) == (
        "cimd",
        "public",
        "authorization-code",
    )
    assert (app.metadata_url, app.client_host, app.name) == (
        agent.client_id,
        AGENT_HOST,
        "Trip planner agent",
    )
    assert app.metadata_fetched_at is not None and app.tenant is None
    assert set(app_scopes(app)) == MAY_ASK and not any(s.required for s in app_scopes(app).values())
    # The member ticks one of the two lines; the token has that one, and works on the API.
    tokens = flow.exchange(flow.consent(page, scopes=[READ])).json()
    assert tokens["scope"] == READ
    assert bearer(tokens["access_token"]).get("/api/t/acme/photos/").status_code == 200
    assert bearer(tokens["access_token"]).get("/api/t/acme/albums/").status_code == 403


def test_without_scope_in_its_document_it_may_ask_for_the_whole_self_registered_set(world, agent, settings):
    agent.serve(scope=None)
    Flow(browser(world.member_a), agent.client_id, READ).start()
    assert set(app_scopes(registered(agent))) == set(settings.SELF_REGISTERED_CLIENT_SCOPES)


def test_a_document_that_drops_a_scope_loses_it_at_its_next_fetch(world, agent):
    Flow(browser(world.member_a), agent.client_id, READ).start()
    assert "albums.read" in app_scopes(registered(agent))
    agent.serve(scope=READ)
    Application.objects.filter(pk=registered(agent).pk).update(cimd_expires_at=timezone.now())
    Flow(browser(world.member_a), agent.client_id, READ).start()
    assert set(app_scopes(registered(agent))) == {READ}


@pytest.mark.attack
@pytest.mark.parametrize("scope", ["tenant.admin", "audit.read", "photos.delete", f"{READ} tenant.admin"])
def test_a_scope_beyond_the_self_registered_set_is_refused_though_declared(world, agent, unchanged, scope):
    member = browser(world.member_a)
    Flow(member, agent.client_id, READ).start()  # registered
    flow = Flow(member, agent.client_id, scope)
    with unchanged():
        response = flow.start()
        assert response.status_code == 302
        assert Flow.redirect_params(response)["error"] == "invalid_scope"


@pytest.mark.attack
def test_a_self_registered_client_gets_no_client_credentials_token(world, agent, unchanged):
    Flow(browser(world.member_a), agent.client_id, READ).start()
    with unchanged():
        response = Client().post(
            "/o/token/", {"grant_type": "client_credentials", "client_id": agent.client_id, "scope": READ}
        )
        assert response.status_code in (400, 401)
        assert response.json()["error"] in ("unauthorized_client", "invalid_client")


@pytest.mark.attack
def test_a_document_asking_for_client_credentials_registers_nothing(world, agent, unchanged):
    agent.serve(grant_types=["authorization_code", "client_credentials"])
    flow = Flow(browser(world.member_a), agent.client_id, READ)
    with unchanged():
        response = flow.start()
        assert response.status_code == 400
    assert not Application.objects.filter(client_id=agent.client_id).exists()


def test_approved_apps_only_puts_it_in_the_queue_until_an_administrator_approves(world, agent):
    services.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)
    member = browser(world.member_a)
    page = Flow(member, agent.client_id, READ).start()
    html = html_lib.unescape(page.content.decode())
    assert "Acme allows only apps its administrators have approved" in html
    assert "not verified by Acme" in html
    # The "ask the administrators" path, as for any app: the link on the page, its form.
    link = re.search(r'href="(/account/requests/new/\?[^"]*kind=app[^"]*)"', html)
    assert link is not None
    form = member.get(link.group(1))
    asked = member.post("/account/requests/new/", dict(form_fields(form.content.decode(), "kind")))
    assert asked.status_code == 302
    request = AccessRequest.all_tenants.get()
    app = registered(agent)
    assert (request.application, request.status) == (app, RequestStatus.PENDING)
    assert app in decidable_apps(world.acme)
    queue = browser(world.owner_a).get("/account/org/acme/")
    assert agent.client_id in html_lib.unescape(queue.content.decode()) or app.name in queue.content.decode()
    # Until approved, the page still refuses; then the member connects.
    assert "has not approved this one yet" in html_lib.unescape(
        Flow(member, agent.client_id, READ).start().content.decode()
    )
    services.access_request_decide(
        actor=world.owner_a, tenant=world.acme, request_id=request.pk, approve=True
    )
    tokens = connect(world, agent)
    assert bearer(tokens["access_token"]).get("/api/t/acme/photos/").status_code == 200


def test_a_self_registered_app_nobody_asked_for_is_not_in_the_administrators_list(world, agent):
    Flow(browser(world.member_a), agent.client_id, READ).start()
    assert registered(agent) not in decidable_apps(world.acme)
    assert world.app in decidable_apps(world.acme)


# --- Blocked domains


def test_blocking_the_domain_refuses_its_live_tokens_its_refresh_and_its_consent_page(world, agent):
    tokens = connect(world, agent, f"{READ} offline_access")
    api = bearer(tokens["access_token"])
    assert api.get("/api/t/acme/photos/").status_code == 200
    services.client_domain_block(
        actor=world.owner_a, tenant=world.acme, domain="Example.TEST", note="unknown agents"
    )
    response = api.get("/api/t/acme/photos/")
    assert response.status_code == 401 and "blocked by Acme's app policy" in response.json()["detail"]
    assert refresh(agent.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    page = html_lib.unescape(Flow(browser(world.member_a), agent.client_id, READ).start().content.decode())
    assert "blocked the domain it registered itself from" in page
    event = AuditEvent.objects.filter(action="app_policy.changed").latest("pk")
    assert event.after == {"blocked_client_domain": "example.test"}
    # Lifted: the next connection works again.
    assert services.client_domain_unblock(actor=world.owner_a, tenant=world.acme, domain="example.test")
    assert bearer(connect(world, agent)["access_token"]).get("/api/t/acme/photos/").status_code == 200


def test_a_domain_block_is_one_tenants_and_covers_only_names_under_it(world, agent, admin_user):
    services.client_domain_block(actor=admin_user, tenant=world.globex, domain=AGENT_HOST)
    services.client_domain_block(actor=world.owner_a, tenant=world.acme, domain="other-example.test")
    services.client_domain_block(actor=world.owner_a, tenant=world.acme, domain="ents.example.test")
    tokens = connect(world, agent)
    assert bearer(tokens["access_token"]).get("/api/t/acme/photos/").status_code == 200
    # An app an administrator registered has no client ID domain: no block reaches it.
    assert not Application.objects.get(pk=world.app.pk).client_host


def test_a_domain_block_written_in_sql_reaches_a_cached_context(world, agent):
    api = bearer(connect(world, agent)["access_token"])
    assert api.get("/api/t/acme/photos/").status_code == 200
    assert len(context_cache.contexts) == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scopes_blockedclientdomain (tenant_id, domain, note, created_at) VALUES (%s, %s, '', %s)",
            [world.acme.pk, "example.test", timezone.now()],
        )
    assert api.get("/api/t/acme/photos/").status_code == 401


def test_administrators_block_and_unblock_a_domain_on_the_organisation_page(world):
    owner = browser(world.owner_a)
    response = owner.post("/account/org/acme/domains/", {"action": "block", "domain": "agents.example.com"})
    assert response.status_code == 302
    assert list(BlockedClientDomain.all_tenants.values_list("tenant__slug", "domain")) == [
        ("acme", "agents.example.com")
    ]
    assert "agents.example.com" in owner.get("/account/org/acme/").content.decode()
    owner.post("/account/org/acme/domains/", {"action": "unblock", "domain": "agents.example.com"})
    assert not BlockedClientDomain.all_tenants.exists()
    assert AuditEvent.objects.filter(action="app_policy.changed").count() == 2


@pytest.mark.attack
@pytest.mark.parametrize(
    ("who", "domain"),
    [
        ("member_a", "agents.example.com"),  # not an administrator of Acme
        ("owner_a", "not a domain"),
        ("owner_a", "https://agents.example.com/"),
        ("owner_a", "*.example.com"),
        ("owner_a", "x" * 300 + ".com"),
    ],
)
def test_only_administrators_block_and_only_domains(world, unchanged, who, domain):
    page = browser(getattr(world, who))
    with unchanged():
        with pytest.raises(ValidationError):
            services.client_domain_block(actor=getattr(world, who), tenant=world.acme, domain=domain)
        response = page.post("/account/org/acme/domains/", {"action": "block", "domain": domain})
        assert response.status_code in (302, 403, 404)


@pytest.mark.attack
def test_an_administrator_of_one_tenant_cannot_block_in_another(world, unchanged):
    owner = browser(world.owner_a)
    with unchanged():
        response = owner.post(
            "/account/org/globex/domains/", {"action": "block", "domain": "agents.example.com"}
        )
        assert response.status_code in (403, 404)


# --- Where it came from, and expiry


def test_the_admin_shows_where_a_self_registered_app_came_from(world, agent, admin_client):
    Flow(browser(world.member_a), agent.client_id, READ).start()
    page = admin_client.get(f"/admin/scopes/application/{registered(agent).pk}/change/")
    html = html_lib.unescape(page.content.decode())
    assert page.status_code == 200
    assert f"registered itself with its client ID metadata document {agent.client_id}" in html
    listing = admin_client.get("/admin/scopes/application/?registration_source__exact=cimd")
    assert agent.client_id in html_lib.unescape(listing.content.decode())


def test_cleartokens_deletes_only_expired_registrations_nobody_uses(world, agent):
    connect(world, agent)
    used = registered(agent)

    def registration(name: str, **extra: Any) -> Application:
        return Application.objects.create(
            name=name,
            client_id=f"https://{name}.example.test/agent.json",
            client_type="public",
            authorization_grant_type="authorization-code",
            redirect_uris=REDIRECT_URI,
            registration_source="cimd",
            **extra,
        )

    unused = registration("gone")
    fresh = registration("fresh", cimd_expires_at=timezone.now() + timedelta(hours=1))
    past = timezone.now() - timedelta(minutes=1)
    Application.objects.filter(pk__in=[used.pk, unused.pk, world.app.pk]).update(cimd_expires_at=past)
    call_command("cleartokens")
    left = set(Application.objects.values_list("pk", flat=True))
    assert unused.pk not in left
    assert {used.pk, fresh.pk, world.app.pk} <= left
    # Its tokens gone and its consent withdrawn, the used one goes at the next run.
    for model in (RefreshToken, AccessToken, Consent):
        model.objects.filter(application=used).delete()
    Grant.objects.filter(application=used).update(expires=past)  # its used code, expired
    call_command("cleartokens")
    assert not Application.objects.filter(pk=used.pk).exists()


def test_a_document_dot_refuses_at_refetch_leaves_the_last_good_registration(world, agent, settings):
    """A document that passes our rules but not DOT's (here: an http redirect the server's schemes
    refuse) is not written; the app keeps what it had, scopes included."""
    Flow(browser(world.member_a), agent.client_id, READ).start()
    before = set(app_scopes(registered(agent)))
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["https"]}
    agent.serve(scope=READ, client_name="Renamed agent")
    Application.objects.filter(pk=registered(agent).pk).update(cimd_expires_at=timezone.now())
    Flow(browser(world.member_a), agent.client_id, READ).start()
    app = registered(agent)
    assert app.name == "Trip planner agent" and set(app_scopes(app)) == before
