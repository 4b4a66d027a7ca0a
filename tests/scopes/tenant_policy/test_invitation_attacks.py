"""Attacks on invitations: replay, a role raised, another tenant's slug, a member who may not invite,
a role stronger than the inviter's, an inviter demoted before the link is used, guessing links."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.constants import RoleName
from accounts.models import Membership
from scopes.roles.services import membership_set
from tests.scopes.tenant_policy.invitation_helpers import coordinator, invite, link_sent_to

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def test_a_used_link_cannot_be_used_again(world, browser_of, unchanged):
    invite(browser_of(world.admin_a), "once@example.com", world.role(RoleName.MEMBER))
    link = link_sent_to("once@example.com")
    assert (
        Client().post(link, {"username": "once", "password": "a long enough passphrase"}).status_code == 302
    )
    replay = browser_of(world.member_b)
    with unchanged():
        answer = replay.post(link)
    assert answer.status_code == 404
    assert not Membership.objects.filter(user=world.member_b, tenant=world.acme).exists()


def test_the_role_is_the_invitations_whatever_the_form_says(world, browser_of):
    invite(browser_of(world.admin_a), "greedy@example.com", world.role(RoleName.GUEST))
    link = link_sent_to("greedy@example.com")
    owner = world.role(RoleName.OWNER)
    browser_of(world.member_b).post(link + f"?role={owner.pk}", {"role": owner.pk})
    assert Membership.objects.get(user=world.member_b, tenant=world.acme).role.name == "Guest"


def test_a_link_under_another_tenants_slug_names_nothing(world, browser_of, unchanged):
    invite(browser_of(world.admin_a), "x@example.com", world.role(RoleName.MEMBER))
    link = link_sent_to("x@example.com").replace("/acme/", "/globex/")
    browser = browser_of(world.outsider)
    with unchanged():
        assert browser.post(link).status_code == 404


def test_a_member_who_may_not_invite_cannot(world, browser_of, unchanged):
    browser = browser_of(world.member_a)
    with unchanged():
        answer = invite(browser, "friend@example.com", world.role(RoleName.GUEST))
    assert answer.status_code == 404


def test_an_administrator_cannot_invite_with_a_role_stronger_than_theirs(world, browser_of, unchanged):
    browser = browser_of(coordinator(world))
    with unchanged():
        answer = invite(browser, "boss@example.com", world.role(RoleName.MEMBER))
    assert answer.status_code == 302  # back to the page, with the refusal
    page = browser.get("/account/org/acme/").content.decode()
    assert "no invitation is waiting" in page.lower()


def test_an_inviter_demoted_before_the_link_is_used_can_no_longer_give_the_role(world, browser_of, unchanged):
    invite(browser_of(world.admin_a), "d@example.com", world.role(RoleName.MEMBER))
    membership_set(actor=None, user=world.admin_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    browser = browser_of(world.member_b)
    with unchanged():
        answer = browser.post(link_sent_to("d@example.com"))
    assert answer.status_code == 400


def test_guessing_links_is_limited_per_address(world, settings, browser_of):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "invitation-ip": (3, 900)}
    invite(browser_of(world.admin_a), "g@example.com", world.role(RoleName.MEMBER))
    guesser = Client()
    for n in range(3):
        assert guesser.get(f"/account/join/acme/guess{n}/").status_code == 404
    answer = guesser.get(link_sent_to("g@example.com"))
    assert answer.status_code == 429 and int(answer["Retry-After"]) > 0
