"""No control character in anything a request sends reaches a view or the database (issue 24, item 13).

The audit (production settings, PostgreSQL): `GET /o/logout/?client_id=%00`, `POST /o/token/` with
`code=c%00` and, signed in, `GET /account/requests/new/?...&app=x%00` were anonymous 500s
(PostgreSQL: "text fields cannot contain NUL"). The rule lives in one place,
`project.middleware.ControlCharacterMiddleware`; these tests send it control characters in every
place a request carries text, at every URL pattern the project has, and check the documented 400
(JSON for programs, plain text for pages) and that nothing changed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import get_resolver

from project.middleware import JSON_PATHS
from tests.attacks import ALL_API_SCOPES

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

CONVERTERS = {
    "slug": "acme",
    "int": "1",
    "path": "x",
    "str": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _concrete(pattern: str) -> str | None:
    """A URL for a pattern: converters filled in; regex patterns kept only when they are literal."""
    url = re.sub(r"<(?:(\w+):)?\w+>", lambda m: CONVERTERS.get(m.group(1) or "str", "1"), pattern)
    url = url.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    return None if re.search(r"[()\[\]?*+|]", url) else "/" + url


def _urls() -> Iterator[str]:
    def walk(patterns, prefix: str) -> Iterator[str]:
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern)

    seen = set()
    for pattern in walk(get_resolver().url_patterns, ""):
        url = _concrete(pattern)
        if url is not None and url not in seen:
            seen.add(url)
            yield url


URLS = sorted(_urls())


def test_the_enumeration_reaches_every_part_of_the_site():
    for expected in ("/o/token/", "/o/logout/", "/account/requests/new/", "/api/t/acme/albums/", "/admin/"):
        assert expected in URLS
    assert len(URLS) > 60


def assert_refused(response, url: str) -> None:
    assert response.status_code == 400, (url, response.status_code, response.content[:200])
    if url.startswith(JSON_PATHS):
        body = response.json()
        assert body["error"] == "invalid_request" and body["reason"] == "control_character", body
    else:
        assert response["Content-Type"].startswith("text/plain")
        assert b"control character" in response.content


@pytest.mark.parametrize("url", URLS)
def test_a_nul_anywhere_is_refused_at_every_url(url, world, unchanged):
    client = Client()
    with unchanged():
        assert_refused(client.get(url, {"q": "x\x00"}), url)
        assert_refused(client.get(url, {"x\x00": "q"}), url)
        assert_refused(client.post(url, {"title": "a\x00b"}), url)
        assert_refused(
            client.patch(url, "title=a%00b", content_type="application/x-www-form-urlencoded"), url
        )
        assert_refused(client.post(url, json.dumps({"title": "a\x00"}), content_type="application/json"), url)
        assert_refused(client.post(url, json.dumps({"a\x00": ["x"]}), content_type="application/json"), url)
        assert_refused(client.get(url, HTTP_X_ANYTHING="a\x01b"), url)


# --- the audit's three requests, and the other ways text arrives


def test_logout_with_a_nul_client_id(world, unchanged):
    with unchanged():
        assert_refused(Client().get("/o/logout/?client_id=%00"), "/o/logout/")


def test_token_endpoint_with_a_nul_in_the_code(world, gallery, unchanged):
    with unchanged():
        response = Client().post(
            "/o/token/",
            "grant_type=authorization_code&code=c%00&client_id=" + gallery.client_id,
            content_type="application/x-www-form-urlencoded",
        )
    assert_refused(response, "/o/token/")


def test_signed_in_access_request_with_a_nul_app(world, gallery, browser_of, unchanged):
    browser = browser_of(world.member_a)
    with unchanged():
        response = browser.get(
            f"/account/requests/new/?tenant=acme&scope=photos.read&app={gallery.client_id}%00"
        )
    assert_refused(response, "/account/requests/new/")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
def test_every_refused_character_in_an_api_body(world, api_client, unchanged, char):
    client = api_client(world.member_a, world.acme, ALL_API_SCOPES)
    with unchanged():
        response = client.post("/api/t/acme/albums/", {"title": f"a{char}b"}, format="json")
    assert_refused(response, "/api/t/acme/albums/")


def test_a_multipart_field_is_checked_but_file_contents_are_not(world, api_client, unchanged):
    client = api_client(world.member_a, world.acme, ALL_API_SCOPES)
    with unchanged():
        response = client.post("/api/t/acme/albums/", {"title": "a\x00"}, format="multipart")
    assert_refused(response, "/api/t/acme/albums/")


def test_a_session_cookie_with_a_nul(world, unchanged):
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00"
    with unchanged():
        assert_refused(client.get("/account/apps/"), "/account/apps/")


def test_a_basic_client_id_with_a_nul(world, gallery, unchanged):
    credentials = base64.b64encode(b"x%00:secret").decode()
    with unchanged():
        response = Client().post("/o/introspect/", {"token": "t"}, HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert_refused(response, "/o/introspect/")


def test_tab_and_newlines_in_text_are_kept(world, api_client):
    client = api_client(world.member_a, world.acme, ALL_API_SCOPES)
    response = client.post("/api/t/acme/albums/", {"name": "two\tlines\r\nhere"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "two\tlines\r\nhere"


def test_an_unreadable_form_body_is_a_precise_400(world, unchanged):
    with unchanged():
        response = Client().post(
            "/o/token/",
            "grant_type=x&code=\xe9",
            content_type="application/x-www-form-urlencoded; charset=latin-1",
        )
    assert response.status_code == 400 and response.json()["reason"] == "invalid_body"
