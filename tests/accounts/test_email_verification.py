"""E-mail verification (accounts.recovery): a signed, expiring link to the account's address."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.constants import AuditAction
from accounts.models import AuditEvent, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(world) -> User:
    world.member_a.email = "member@example.com"
    world.member_a.save()
    return world.member_a


def sent_link() -> str:
    return re.search(r"http://testserver(/account/email/verify/\S+/)", mail.outbox[-1].body).group(1)


def test_the_link_verifies_the_address(member, browser_of):
    browser = browser_of(member)
    assert b"not verified yet" in browser.get("/account/security/").content
    assert browser.post("/account/email/verify/")["Location"] == "/account/security/?verification=sent"
    assert mail.outbox[-1].to == ["member@example.com"]
    answer = Client().get(sent_link())
    assert answer.status_code == 200 and b"is verified" in answer.content
    member.refresh_from_db()
    assert member.email_verified
    assert AuditEvent.objects.filter(action=AuditAction.EMAIL_VERIFIED, actor=member).exists()
    assert b"verified." in browser.get("/account/security/").content


def test_a_new_address_needs_a_new_proof(member, browser_of):
    browser_of(member).post("/account/email/verify/")
    link = sent_link()
    User.objects.filter(pk=member.pk).update(email="other@example.com")
    assert Client().get(link).status_code == 400
    member.refresh_from_db()
    assert not member.email_verified


def test_a_tampered_link_verifies_nothing(member, browser_of):
    browser_of(member).post("/account/email/verify/")
    assert Client().get(sent_link().replace(":", ";", 1)).status_code == 400
    member.refresh_from_db()
    assert not member.email_verified


def test_sending_is_limited_per_person(member, browser_of, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "email-verify-user": (2, 3600)}
    browser = browser_of(member)
    for _ in range(2):
        assert browser.post("/account/email/verify/").status_code == 302
    assert browser.post("/account/email/verify/").status_code == 429
    assert len(mail.outbox) == 2
