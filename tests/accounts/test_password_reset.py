"""Password reset (accounts.recovery): the same answer for any address, a link that works once, limits."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase"


@pytest.fixture
def member(world) -> User:
    world.member_a.email = "member@example.com"
    world.member_a.save()
    return world.member_a


def ask(email: str, client: Client | None = None):
    return (client or Client()).post("/account/password/reset/", {"email": email})


def link() -> str:
    return re.search(r"http://testserver(/account/password/reset/\S+/)", mail.outbox[-1].body).group(1)


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(member):
    known, unknown = ask("member@example.com"), ask("nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/account/password/reset/sent/"
    assert [m.to for m in mail.outbox] == [["member@example.com"]]


def test_the_link_sets_a_new_password_once(member):
    ask("member@example.com")
    browser = Client()
    form = browser.get(link(), follow=True)
    assert b"Choose a new password" in form.content
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/account/password/reset/done/"
    member.refresh_from_db()
    assert member.check_password(NEW)
    again = Client().get(link(), follow=True)
    assert b"This link cannot be used" in again.content


def test_a_reset_signs_nobody_in(member):
    ask("member@example.com")
    browser = Client()
    form = browser.get(link(), follow=True)
    browser.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert "_auth_user_id" not in browser.session


def test_requests_are_limited_per_address_typed(member, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password-reset-email": (2, 3600)}
    for _ in range(2):
        assert ask("member@example.com").status_code == 302
    refused = ask("MEMBER@example.com ")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 2


def test_the_sign_in_page_links_to_it(world):
    assert b'href="/account/password/reset/"' in Client().get("/account/login/").content
