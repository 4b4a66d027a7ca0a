"""The admin's service-account and token-policy screens call the services: secrets once, rules held."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.constants import RoleName
from accounts.models import Membership, User
from scopes.machines.models import ServiceAccount, TokenPolicy
from scopes.models import Application, Scope

pytestmark = pytest.mark.django_db


def staff(user: User) -> Client:
    user.is_staff = True
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(codename__endswith="serviceaccount")
        | Permission.objects.filter(codename__endswith="tokenpolicy")
    )
    client = Client()
    client.force_login(user)
    return client


def add(client: Client, world, role: RoleName, name: str = "Importer"):
    return client.post(
        "/admin/scopes/serviceaccount/add/",
        {
            "tenant": world.acme.pk,
            "name": name,
            "role": world.role(role).pk,
            "scopes": [Scope.objects.get(name="photos.read").pk],
        },
    )


def test_an_admin_creates_one_and_sees_the_secret_once(world):
    client = staff(world.admin_a)
    page = add(client, world, RoleName.MEMBER)
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r'id="client-secret">([^<]+)<', html).group(1)
    account = ServiceAccount.objects.get()
    assert account.created_by == world.admin_a
    assert Application.objects.get(pk=account.application_id).client_secret != secret  # hashed
    assert secret not in client.get(f"/admin/scopes/serviceaccount/{account.pk}/change/").content.decode()


def test_a_staff_member_cannot_create_one_stronger_than_themselves(world):
    client = staff(world.member_a)
    before = (User.objects.count(), Membership.objects.count(), Application.objects.count())
    page = add(client, world, RoleName.ADMIN)
    assert "client-secret" not in page.content.decode()
    assert "your own role does not hold it" in page.content.decode()
    assert not ServiceAccount.objects.exists()
    assert (User.objects.count(), Membership.objects.count(), Application.objects.count()) == before


def test_actions_disable_and_rotate(world):
    client = staff(world.admin_a)
    add(client, world, RoleName.MEMBER)
    account = ServiceAccount.objects.get()
    client.post(
        "/admin/scopes/serviceaccount/",
        {"action": "disable", "_selected_action": [account.pk]},
    )
    account.user.refresh_from_db()
    assert not account.user.is_active
    rotated = client.post(
        "/admin/scopes/serviceaccount/",
        {"action": "rotate_secret", "_selected_action": [account.pk]},
    )
    assert 'id="client-secret"' in rotated.content.decode()
    account.refresh_from_db()
    assert account.previous_secret and account.previous_secret_expires


def test_a_token_policy_is_set_through_the_service(world):
    client = staff(world.admin_a)
    client.post(
        "/admin/scopes/tokenpolicy/add/",
        {"tenant": world.acme.pk, "personal_tokens": "forbidden", "max_days": 30},
    )
    policy = TokenPolicy.objects.get()
    assert (policy.personal_tokens, policy.max_days) == ("forbidden", 30)
    outsider = staff(world.member_b)
    outsider.post(
        "/admin/scopes/tokenpolicy/add/",
        {"tenant": world.acme.pk, "personal_tokens": "allowed", "max_days": 1},
    )
    policy.refresh_from_db()
    assert policy.personal_tokens == "forbidden"
