"""Attacks on the second-factor rule: a member who may not administer the tenant turns it off, and a
live token outruns a rule that newly covers its user."""

from __future__ import annotations

import pytest

from scopes.access.policy import SecondFactorRule
from scopes.constants import ScopeName
from scopes.tenant_policy import services

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def test_a_member_cannot_turn_the_rule_off(world, browser_of, unchanged):
    services.second_factor_rule_set(actor=world.owner_a, tenant=world.acme, rule=SecondFactorRule.MEMBERS)
    browser = browser_of(world.member_a)
    with unchanged():
        answer = browser.post("/account/org/acme/policy/", {"second_factor": ""})
    assert answer.status_code == 404


def test_a_rule_newly_covering_a_user_applies_to_their_live_tokens_at_once(world, api_client, unchanged):
    client = api_client(world.admin_a, world.acme, [ScopeName.PHOTOS_READ, ScopeName.PHOTOS_UPLOAD])
    assert client.get("/api/t/acme/photos/").status_code == 200  # the context is cached
    services.second_factor_rule_set(actor=world.owner_a, tenant=world.acme, rule=SecondFactorRule.ADMINS)
    with unchanged():
        assert client.get("/api/t/acme/photos/").status_code == 401
        assert client.post("/api/t/acme/photos/", {"title": "x"}).status_code == 401
