"""Every page carries the security headers, and nothing we serve needs an inline script."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from scopes.constants import ScopeName as S
from tests.oauth import Flow

PAGES_SIGNED_OUT = [
    "/account/login/",
    "/admin/login/",
    "/api/docs/",
    "/api/docs/?script=",
    "/api/schema/",
    "/.well-known/oauth-authorization-server",
    "/no-such-page/",
    "/api/t/acme/photos/",  # 401
]


def assert_secure_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def assert_no_inline_script(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


@pytest.mark.parametrize("url", PAGES_SIGNED_OUT)
def test_signed_out_pages_carry_the_security_headers(world, url):
    response = Client().get(url)
    assert response.status_code < 500
    assert_secure_headers(response)
    if response["Content-Type"].startswith("text/html"):
        assert_no_inline_script(response.content.decode())


def test_signed_in_pages_carry_the_security_headers(world, gallery, browser_of, api_client):
    superuser = world.owner_a
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    admin = browser_of(superuser)
    member = browser_of(world.member_a)
    consent_page = Flow(member, gallery.client_id, "photos.read").start()
    assert consent_page.status_code == 200
    responses = [
        consent_page,
        member.get("/account/apps/"),
        admin.get("/admin/"),
        admin.get("/admin/accounts/membership/"),
        admin.get("/admin/explain/"),
        api_client(world.member_a, world.acme, [S.PHOTOS_READ]).get("/api/t/acme/photos/"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert_secure_headers(response)
        if response["Content-Type"].startswith("text/html"):
            assert_no_inline_script(response.content.decode())
