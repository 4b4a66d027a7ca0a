"""The tenant policy's admin screens for staff: their tenants only, decisions through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership
from scopes.tenant_policy import services
from scopes.tenant_policy.models import (
    AccessRequest,
    BlockedClientDomain,
    RequestKind,
    RequestStatus,
    TenantApp,
)

pytestmark = pytest.mark.django_db

MODELS = ("accessrequest", "tenantapp", "tenantapppolicy")


def staff(user, codenames=None) -> Client:
    user.is_staff = True
    user.save()
    names = codenames or [f"{verb}_{model}" for verb in ("view", "change", "add") for model in MODELS]
    user.user_permissions.set(Permission.objects.filter(codename__in=names))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def requests_(world):
    acme = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    globex = services.access_request_file(
        requester=world.member_b, tenant=world.globex, kind=RequestKind.APP, application=world.app
    )
    return acme, globex


def test_staff_see_and_decide_only_their_tenants_requests(world, requests_):
    acme, globex = requests_
    admin = staff(world.admin_a)
    listing = admin.get("/admin/scopes/accessrequest/").content.decode()
    assert f"/admin/scopes/accessrequest/{acme.pk}/change/" in listing
    assert f"/admin/scopes/accessrequest/{globex.pk}/change/" not in listing
    assert admin.get(f"/admin/scopes/accessrequest/{globex.pk}/change/").status_code == 302  # "not found"
    response = admin.post(
        f"/admin/scopes/accessrequest/{acme.pk}/change/",
        {"decision": "approve", "decision_note": "ok", "role": world.role("Member").pk, "reach": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    acme.refresh_from_db()
    assert acme.status == RequestStatus.APPROVED and acme.decided_by == world.admin_a and acme.note == "ok"
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == "Member"
    globex.refresh_from_db()
    assert globex.status == RequestStatus.PENDING


def test_staff_without_the_right_get_the_services_refusal_as_a_form_error(world, requests_):
    acme, _ = requests_
    member = staff(world.member_a)
    response = member.post(
        f"/admin/scopes/accessrequest/{acme.pk}/change/",
        {"decision": "approve", "role": world.role("Owner").pk},
    )
    assert response.status_code == 200 and b"Only the administrators of Acme" in response.content
    assert AccessRequest.all_tenants.get(pk=acme.pk).status == RequestStatus.PENDING


def test_staff_block_an_app_through_the_admin(world, requests_):
    admin = staff(world.admin_a)
    response = admin.post(
        "/admin/scopes/tenantapp/add/",
        {"tenant": world.acme.pk, "application": world.app.pk, "status": "blocked", "note": "no"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert TenantApp.all_tenants.get(tenant=world.acme).status == "blocked"
    # Another tenant is not a choice.
    response = admin.post(
        "/admin/scopes/tenantapp/add/",
        {"tenant": world.globex.pk, "application": world.app.pk, "status": "blocked"},
    )
    assert response.status_code == 200
    assert TenantApp.all_tenants.get(tenant=world.globex).status == "pending"


BLOCKS = [f"{verb}_blockedclientdomain" for verb in ("view", "add", "delete")]


def test_staff_block_and_lift_a_client_domain_through_the_admin(world):
    """The admin's blocked client domains: added and lifted through the services, audited."""
    admin = staff(world.admin_a, BLOCKS)
    response = admin.post(
        "/admin/scopes/blockedclientdomain/add/",
        {"tenant": world.acme.pk, "domain": "Agents.Example.COM.", "note": "spam"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    block = BlockedClientDomain.all_tenants.get(tenant=world.acme)
    assert block.domain == "agents.example.com"
    assert AuditEvent.objects.filter(
        tenant=world.acme,
        action=AuditAction.APP_POLICY_CHANGED,
        after={"blocked_client_domain": block.domain},
    ).exists()
    assert "agents.example.com" in admin.get("/admin/scopes/blockedclientdomain/").content.decode()
    response = admin.post(f"/admin/scopes/blockedclientdomain/{block.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not BlockedClientDomain.all_tenants.filter(tenant=world.acme).exists()
    assert AuditEvent.objects.filter(
        tenant=world.acme,
        action=AuditAction.APP_POLICY_CHANGED,
        before={"blocked_client_domain": block.domain},
    ).exists()


@pytest.mark.parametrize(
    ("who", "tenant", "domain", "refusal"),
    [
        ("member_a", "acme", "agents.example.com", b"Only the administrators of Acme"),
        ("admin_a", "acme", "not a domain", b"is not a domain name"),
        ("admin_a", "globex", "agents.example.com", b"Select a valid choice"),
    ],
)
def test_a_block_the_service_would_refuse_is_a_form_error_and_writes_nothing(
    world, unchanged, who, tenant, domain, refusal
):
    client = staff(getattr(world, who), BLOCKS)
    with unchanged():
        response = client.post(
            "/admin/scopes/blockedclientdomain/add/",
            {"tenant": getattr(world, tenant).pk, "domain": domain},
        )
    assert response.status_code == 200 and refusal in response.content


def test_staff_who_may_not_lift_a_block_cannot_delete_it(world, unchanged):
    block = services.client_domain_block(actor=world.admin_a, tenant=world.acme, domain="agents.example.com")
    member = staff(world.member_a, BLOCKS)
    with unchanged():
        assert (
            member.post(f"/admin/scopes/blockedclientdomain/{block.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
        member.post(
            "/admin/scopes/blockedclientdomain/",
            {"action": "delete_selected", "_selected_action": [block.pk], "post": "yes"},
        )
    assert BlockedClientDomain.all_tenants.filter(pk=block.pk).exists()
