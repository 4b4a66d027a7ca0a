"""Memberships: one per user and tenant, and only with a role usable in that tenant."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.constants import RoleName
from accounts.models import Membership, Role
from accounts.selectors import active_memberships_of, membership_in
from scopes.roles.services import membership_remove, membership_set
from tests.factories import MembershipFactory, RoleFactory


def test_one_membership_per_user_and_tenant(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    assert Membership.objects.filter(user=world.member_a, tenant=world.acme).count() == 1


def test_same_user_can_be_in_two_tenants_with_different_roles(world):
    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role(RoleName.GUEST))
    roles = {m.tenant.slug: m.role.name for m in active_memberships_of(world.member_a)}
    assert roles == {"acme": "Member", "globex": "Guest"}


def test_membership_set_changes_the_role_in_place(world):
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    assert membership_in(user=world.member_a, tenant=world.acme).role.name == "Guest"
    assert Membership.objects.filter(user=world.member_a).count() == 1


def test_a_tenant_role_cannot_be_given_in_another_tenant(world):
    globex_role = RoleFactory(name="Editor", tenant=world.globex)
    with pytest.raises(ValidationError):
        membership_set(actor=None, user=world.outsider, tenant=world.acme, role=globex_role)
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_role_names_are_unique_globally_and_per_tenant(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Role.objects.create(name="Member", tenant=None)
    Role.objects.create(name="Member", tenant=world.acme)  # a tenant may shadow a global name
    with pytest.raises(IntegrityError), transaction.atomic():
        Role.objects.create(name="Member", tenant=world.acme)


def test_inactive_tenant_hides_the_membership(world):
    world.acme.is_active = False
    world.acme.save()
    assert membership_in(user=world.member_a, tenant=world.acme) is None
    assert not active_memberships_of(world.member_a).exists()


def test_membership_remove(world):
    assert membership_remove(actor=None, user=world.member_a, tenant=world.acme) is True
    assert membership_remove(actor=None, user=world.member_a, tenant=world.acme) is False
