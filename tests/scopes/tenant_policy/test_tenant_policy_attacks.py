"""Attacks on access requests and the tenant app policy (issue 13): each fails and changes nothing."""

from __future__ import annotations

import threading
from contextlib import suppress

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client

from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership
from scopes.access.policy import AppStatus
from scopes.models import Application, ApplicationScope, Scope
from scopes.tenant_policy import services
from scopes.tenant_policy.models import AccessRequest, RequestKind, RequestStatus

pytestmark = pytest.mark.attack

READ = "photos.read"


@pytest.fixture
def app(world) -> Application:
    for name in [READ, "photos.upload"]:
        ApplicationScope.objects.get_or_create(application=world.app, scope=Scope.objects.get(name=name))
    return world.app


@pytest.fixture
def pending(world, app) -> AccessRequest:
    return services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, application=app, scopes=[READ]
    )


def page_of(user) -> Client:
    client = Client()
    client.force_login(user)
    client.get("/account/requests/")  # the sign-in's own writes (last_login) happen before any attack
    return client


def test_a_member_cannot_approve_any_request(world, pending, unchanged):
    for actor in [world.member_a, world.guest_a, world.member_b, world.outsider]:
        with unchanged(), pytest.raises(ValidationError, match="Only the administrators"):
            services.access_request_decide(
                actor=actor, tenant=world.acme, request_id=pending.pk, approve=True, role=world.role("Owner")
            )
    # Through the page: the same 404 as a tenant that does not exist.
    member = page_of(world.member_a)
    with unchanged():
        response = member.post(
            f"/account/org/acme/requests/{pending.pk}/decide/",
            {"decision": "approve", "role": world.role("Owner").pk},
        )
        assert response.status_code == 404
        assert member.post("/account/org/acme/policy/", {"mode": "approved"}).status_code == 404


def test_an_administrator_cannot_approve_their_own_request(world, app, unchanged):
    own = services.access_request_file(
        requester=world.admin_a, tenant=world.acme, kind=RequestKind.APP, application=app
    )
    with unchanged(), pytest.raises(ValidationError, match="their own request"):
        services.access_request_decide(
            actor=world.admin_a, tenant=world.acme, request_id=own.pk, approve=True
        )


def test_another_tenants_administrator_or_request_is_not_found(world, pending, unchanged):
    owner = page_of(world.owner_a)
    with unchanged():
        with pytest.raises(ValidationError, match="Only the administrators"):
            services.access_request_decide(
                actor=world.member_b, tenant=world.acme, request_id=pending.pk, approve=True
            )
        # Acme's owner naming Acme's request under Globex: not an administrator there either.
        with pytest.raises(ValidationError):
            services.access_request_decide(
                actor=world.owner_a, tenant=world.globex, request_id=pending.pk, approve=True
            )
        response = owner.post(f"/account/org/globex/requests/{pending.pk}/decide/", {"decision": "refuse"})
        assert response.status_code == 404


def test_a_request_cannot_name_another_tenant_another_user_or_a_scope_outside_the_app(world, app, unchanged):
    member = page_of(world.member_a)
    with unchanged():
        # Another tenant (one the member does not belong to): 404, like one that does not exist.
        assert (
            member.post(
                "/account/requests/new/", {"tenant": "globex", "kind": "app", "app": app.client_id}
            ).status_code
            == 404
        )
        assert member.post("/account/requests/new/", {"tenant": "nowhere", "kind": "app"}).status_code == 404
        # A scope the app may not ask for.
        response = member.post(
            "/account/requests/new/",
            {"tenant": "acme", "kind": "app", "app": app.client_id, "scope": "albums.write"},
        )
        assert response.status_code == 400 and b"cannot ask for albums.write" in response.content
        # An unknown scope, an unknown app, an unknown kind.
        assert (
            member.post(
                "/account/requests/new/", {"tenant": "acme", "kind": "scope", "scope": "nope"}
            ).status_code
            == 400
        )
        assert (
            member.post(
                "/account/requests/new/", {"tenant": "acme", "kind": "app", "app": "nope"}
            ).status_code
            == 404
        )
        assert (
            member.post(
                "/account/requests/new/", {"tenant": "acme", "kind": "root", "scope": READ}
            ).status_code
            == 400
        )
    other = Application.objects.create(
        name="Globex's",
        client_id="globex-app",
        tenant=world.globex,
        client_type="public",
        authorization_grant_type="authorization-code",
    )
    with unchanged():  # an app of another tenant
        response = member.post(
            "/account/requests/new/", {"tenant": "acme", "kind": "app", "app": other.client_id}
        )
        assert response.status_code == 400
    # Another user: the field is ignored, the requester is whoever is signed in.
    response = member.post(
        "/account/requests/new/",
        {
            "tenant": "acme",
            "kind": "scope",
            "scope": "photos.delete",
            "requester": world.owner_a.pk,
            "user": world.owner_a.pk,
        },
    )
    assert response.status_code == 302
    assert AccessRequest.all_tenants.get().requester == world.member_a


def test_an_approval_cannot_reach_beyond_the_approvers_role(world, app, unchanged):
    """A custom role holding tenant.admin but not photos.upload cannot approve the app uncapped."""
    from accounts.models import Role
    from scopes.models import RoleGrant

    clerk = Role.objects.create(name="Clerk", tenant=world.acme)
    for name in ["tenant.admin", READ]:
        RoleGrant.objects.create(role=clerk, scope=Scope.objects.get(name=name), reach="tenant")
    Membership.objects.filter(user=world.member2_a).update(role=clerk)
    request = services.access_request_file(
        requester=world.member_a, tenant=world.acme, kind=RequestKind.APP, application=app
    )
    with unchanged(), pytest.raises(ValidationError, match="your own role does not hold it"):
        services.access_request_decide(
            actor=world.member2_a, tenant=world.acme, request_id=request.pk, approve=True
        )
    scope_request = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    with unchanged(), pytest.raises(ValidationError, match="your own role"):  # nor give a stronger role
        services.access_request_decide(
            actor=world.member2_a,
            tenant=world.acme,
            request_id=scope_request.pk,
            approve=True,
            role=world.role("Owner"),
        )


def test_deciding_twice_applies_once(world, pending, unchanged):
    services.access_request_decide(
        actor=world.owner_a, tenant=world.acme, request_id=pending.pk, approve=True, role=world.role("Member")
    )
    with unchanged(), pytest.raises(ValidationError, match="already decided"):
        services.access_request_decide(
            actor=world.admin_a,
            tenant=world.acme,
            request_id=pending.pk,
            approve=True,
            role=world.role("Admin"),
        )
    admin = page_of(world.admin_a)
    with unchanged():
        admin.post(f"/account/org/acme/requests/{pending.pk}/decide/", {"decision": "refuse"})
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == "Member"
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_APPROVED).count() == 1


def test_two_administrators_deciding_at_once_apply_one_decision(
    transactional_db, world, pending, monkeypatch
):
    """Two threads pass the right check together, then race for the request's row lock (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    barrier = threading.Barrier(2, timeout=5)
    check = services.check_tenant_admin

    def wait_for_the_other(**kwargs):
        check(**kwargs)
        with suppress(threading.BrokenBarrierError):
            barrier.wait()

    monkeypatch.setattr(services, "check_tenant_admin", wait_for_the_other)
    outcomes: list[str] = []

    def decide(actor, role_name) -> None:
        try:
            with transaction.atomic():
                services.access_request_decide(
                    actor=actor,
                    tenant=world.acme,
                    request_id=pending.pk,
                    approve=True,
                    role=world.role(role_name),
                )
            outcomes.append(role_name)
        except ValidationError as refused:
            outcomes.append(refused.code or "refused")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=(world.owner_a, "Member")),
        threading.Thread(target=decide, args=(world.admin_a, "Admin")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 2 and "already_decided" in outcomes
    winner = next(o for o in outcomes if o != "already_decided")
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == winner
    assert AccessRequest.all_tenants.get().status == RequestStatus.APPROVED
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_APPROVED).count() == 1


def test_blocking_needs_the_right(world, app, unchanged):
    with unchanged(), pytest.raises(ValidationError):
        services.tenant_app_set(
            actor=world.member_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED
        )
