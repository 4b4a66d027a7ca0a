"""Attacks on password reset: a used link used again, a link for another account, a made-up link."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

NEW = "a brand new passphrase"


def reset_path(world) -> str:
    world.member_a.email = "member@example.com"
    world.member_a.save()
    Client().post("/account/password/reset/", {"email": "member@example.com"})
    return re.search(r"http://testserver(/account/password/reset/\S+/)", mail.outbox[-1].body).group(1)


def test_a_used_link_changes_nothing_the_second_time(world, unchanged):
    path = reset_path(world)
    first = Client()
    form = first.get(path, follow=True).redirect_chain[-1][0]
    assert first.post(form, {"new_password1": NEW, "new_password2": NEW}).status_code == 302
    second = Client()
    with unchanged():
        page = second.get(path, follow=True)
        second.post(
            page.redirect_chain[-1][0] if page.redirect_chain else path,
            {"new_password1": "x" * 20, "new_password2": "x" * 20},
        )
    assert b"This link cannot be used" in page.content


def test_a_link_with_another_accounts_id_changes_nothing(world, unchanged):
    path = reset_path(world)
    token = path.split("/")[5]
    other = urlsafe_base64_encode(force_bytes(world.owner_a.pk))
    browser = Client()
    with unchanged():
        page = browser.get(f"/account/password/reset/{other}/{token}/", follow=True)
        browser.post(
            f"/account/password/reset/{other}/set-password/", {"new_password1": NEW, "new_password2": NEW}
        )
    assert b"This link cannot be used" in page.content
