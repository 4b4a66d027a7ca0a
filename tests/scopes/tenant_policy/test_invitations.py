"""Invitations (scopes.tenant_policy.invitations): invite by e-mail with a role the inviter may give,
see and revoke pending ones; the link joins the signed-in account or creates one, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership, User
from scopes.tenant_policy.models import Invitation
from tests.scopes.tenant_policy.invitation_helpers import coordinator, invite, link_sent_to

pytestmark = pytest.mark.django_db


def test_an_administrator_invites_and_a_new_person_joins(world, browser_of):
    admin = browser_of(world.admin_a)
    assert invite(admin, "newcomer@example.com", world.role(RoleName.MEMBER)).status_code == 302
    assert mail.outbox[-1].subject == "Join Acme" and mail.outbox[-1].to == ["newcomer@example.com"]
    page = admin.get("/account/org/acme/").content.decode()
    assert 'data-invitation="newcomer@example.com"' in page
    link = link_sent_to("newcomer@example.com")
    visitor = Client()
    shown = visitor.get(link).content.decode()
    assert "join Acme as <strong>Member</strong>" in shown
    joined = visitor.post(link, {"username": "newcomer", "password": "a long enough passphrase"})
    assert joined.status_code == 302 and joined["Location"] == "/account/apps/"
    user = User.objects.get(username="newcomer")
    assert user.email == "newcomer@example.com" and user.check_password("a long enough passphrase")
    assert user.email_verified  # the link came to that address
    assert Membership.objects.get(user=user, tenant=world.acme).role.name == "Member"
    assert visitor.session["_auth_user_id"] == str(user.pk)
    assert 'data-invitation="newcomer@example.com"' not in admin.get("/account/org/acme/").content.decode()
    actions = list(
        AuditEvent.objects.filter(action__startswith="invitation.").values_list("action", flat=True)
    )
    assert sorted(actions) == [AuditAction.INVITATION_ACCEPTED, AuditAction.INVITATION_CREATED]


def test_a_signed_in_person_joins_with_their_account(world, browser_of):
    invite(browser_of(world.owner_a), "b@example.com", world.role(RoleName.GUEST))
    member_b = browser_of(world.member_b)
    assert member_b.post(link_sent_to("b@example.com")).status_code == 302
    assert Membership.objects.get(user=world.member_b, tenant=world.acme).role.name == "Guest"


def test_only_roles_the_administrator_may_give_are_offered(world, browser_of):
    page = browser_of(coordinator(world)).get("/account/org/acme/").content.decode()
    offered = page.split('id="id_invite_role"')[1].split("</select>")[0]
    assert ">Coordinator<" in offered and ">Member<" not in offered and ">Admin<" not in offered


def test_a_revoked_invitation_cannot_be_used(world, browser_of):
    admin = browser_of(world.admin_a)
    invite(admin, "late@example.com", world.role(RoleName.MEMBER))
    invitation = Invitation.all_tenants.get(email="late@example.com")
    assert admin.post(f"/account/org/acme/invitations/{invitation.pk}/revoke/").status_code == 302
    answer = Client().post(link_sent_to("late@example.com"), {"username": "late", "password": "x" * 20})
    assert answer.status_code == 404 and b"already used, revoked, or has expired" in answer.content
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_REVOKED).count() == 1


def test_an_expired_invitation_cannot_be_used(world, browser_of):
    invite(browser_of(world.admin_a), "slow@example.com", world.role(RoleName.MEMBER))
    Invitation.all_tenants.update(expires_at=Invitation.all_tenants.get().created_at - timedelta(seconds=1))
    assert Client().get(link_sent_to("slow@example.com")).status_code == 404


def test_a_weak_password_or_a_taken_name_is_a_clear_400(world, browser_of):
    invite(browser_of(world.admin_a), "c@example.com", world.role(RoleName.MEMBER))
    link = link_sent_to("c@example.com")
    weak = Client().post(link, {"username": "cee", "password": "123"})
    assert weak.status_code == 400 and b"too short" in weak.content
    taken = Client().post(link, {"username": "MEMBER_A", "password": "a long enough passphrase"})
    assert taken.status_code == 400 and b"taken" in taken.content
    assert Invitation.all_tenants.get().accepted_at is None


def test_a_bad_address_is_refused(world, browser_of):
    admin = browser_of(world.admin_a)
    invite(admin, "not an address", world.role(RoleName.MEMBER))
    assert not Invitation.all_tenants.exists() and not mail.outbox
