"""Untrusted JSON is bounded in size and depth, and any failure is the documented 4xx (issue 24, item 3).

The audit's attack: `authorization_details` of 3,000 nested arrays (well under the URL limit) made
`json.loads` raise RecursionError, which `parse_request` did not catch: a 500, and the URL in the
error log. The class: every parser of request JSON goes through `accounts.untrusted.loads_bounded`.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from accounts.untrusted import MAX_DEPTH, UntrustedInput, loads_bounded, nesting_depth
from scopes.constants import ScopeName as S
from tests.attacks import ALL_API_SCOPES
from tests.oauth import Flow

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


@pytest.mark.parametrize(
    "details",
    [
        "[" * 3000 + "]" * 3000,
        '[{"type":"album","actions":["photos.read"],"identifiers":' + "[" * 500 + "]" * 500 + "}]",
        '[{"type":"album","actions":["photos.read"],"identifiers":["1"],"x":NaN}]',
        '[{"type":"album","actions":["photos.read"],"identifiers":["' + "9" * 5000 + '"]}]',
        "1" * 5000,  # past Python's limit on digits in an int
    ],
    ids=["3000-deep", "deep-identifiers", "NaN", "long-digits", "huge-int"],
)
def test_nested_authorization_details_is_an_error_redirect_not_a_500(
    world, gallery, browser_of, unchanged, details
):
    flow = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.read", extra={"authorization_details": details}
    )
    with unchanged():
        response = flow.start()
    params = Flow.redirect_params(response)
    assert params["error"] == "invalid_authorization_details", params
    assert params["state"] == flow.state and "code" not in params


@pytest.fixture
def writer(world, api_client):
    return api_client(world.member_a, world.acme, ALL_API_SCOPES)


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
        b'{"title": Infinity}',
        b'{"title": "x", "n": ' + b"1" * 5000 + b"}",
    ],
    ids=["past-the-depth-limit", "Infinity", "huge-int"],
)
def test_api_json_past_the_bounds_is_a_400(writer, unchanged, body):
    with unchanged():
        response = writer.post("/api/t/acme/albums/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"] in {"parse_error", "invalid_request"}


def test_an_api_json_body_past_the_size_limit_is_a_413(writer, unchanged, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"title": "x" * 2000}).encode()
    with unchanged():
        response = writer.post("/api/t/acme/albums/", body, content_type="application/json")
    assert response.status_code == 413, response.content[:200]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("[" * 3000 + "]" * 3000),
        _cursor('{"before": 1, "x": [[]]}'),
        "A" * 5000,
        _cursor('{"before": NaN}'),
    ],
    ids=["3000-deep", "nested", "long", "NaN"],
)
def test_audit_api_cursors_past_the_bounds_are_a_400(world, api_client, unchanged, cursor):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    with unchanged():
        response = client.get("/api/t/acme/audit/", {"cursor": cursor})
    assert response.status_code == 400, response.content[:200]
    assert response.json()["reason"] == "invalid_cursor"


def test_an_oversized_signed_consent_form_is_refused_as_a_forgery(world, gallery, browser_of, unchanged):
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read")
    flow.start()
    with unchanged():
        response = browser.post(
            "/o/authorize/", {"request_token": "x" * 100_000, "decision": "allow", "tenant": "acme"}
        )
    assert response.status_code == 400


# --- the helper itself


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert nesting_depth('["[[[[", "]]]", "\\"[["]', limit=1) == 1
    assert loads_bounded('["' + "[" * 100 + '"]', max_size=1000, max_depth=1) == ["[" * 100]


@pytest.mark.parametrize(
    "raw",
    ["[" * 3000 + "]" * 3000, "[[1]]", "nope", b"\xff", '{"a": NaN}', "-Infinity", "1" * 5000],
)
def test_every_failure_is_one_error(raw):
    with pytest.raises(UntrustedInput):
        loads_bounded(raw, max_size=10_000, max_depth=1)


def test_the_size_limit_comes_first():
    with pytest.raises(UntrustedInput, match="longer"):
        loads_bounded("[" + "1," * 100 + "1]", max_size=50)


def test_a_document_within_the_bounds_is_read():
    assert loads_bounded(b'{"a": [1, {"b": "\\u00e9"}]}', max_size=100, max_depth=3) == {"a": [1, {"b": "é"}]}


@pytest.mark.parametrize("page_size", ["1" * 5000, "\u00b2", "\u0661"])
def test_audit_api_page_sizes_that_int_cannot_read_are_a_400(world, api_client, unchanged, page_size):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    with unchanged():
        response = client.get("/api/t/acme/audit/", {"page_size": page_size})
    assert response.status_code == 400, response.content[:200]
    assert response.json()["reason"] == "invalid_filter"


# --- Hostile input anywhere: never a 500.

HOSTILE_GETS = [
    "/api/t/acme/photos/?cursor=cD1qdW5r",  # base64("p=junk"): a position that is not a datetime
    "/api/t/acme/photos/?cursor=%00%ff",  # guard
    "/o/authorize/?response_type=code&client_id=GALLERY&scope=photos.read&tenant=%E2%80%AE",  # guard
]


@pytest.mark.parametrize("url", HOSTILE_GETS)
def test_hostile_get_is_never_500(world, gallery, api_client, browser_of, url):
    url = url.replace("GALLERY", gallery.client_id)
    if url.startswith("/api/"):
        client = api_client(world.owner_a, world.acme, ["photos.write", "albums.write", "profile.read"])
    else:
        client = browser_of(world.member_a)
    response = client.get(url)
    assert response.status_code < 500, (url[:120], response.status_code)


HOSTILE_POSTS = [
    ("/o/token/", {"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"}, {}),
    (
        "/o/token/",
        {"grant_type": "client_credentials"},
        {"HTTP_AUTHORIZATION": "Basic AAo6eA=="},
    ),  # "\x00\n:x"
    ("/o/introspect/", {"token": "x"}, {"HTTP_AUTHORIZATION": "Basic ADp4"}),  # "\x00:x"
    ("/o/revoke_token/", {"token": "x", "client_id": "\x00"}, {}),
    (
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": "\x00", "client_id": "GALLERY"},
        {},
    ),  # guard
]


@pytest.mark.parametrize(("url", "data", "extra"), HOSTILE_POSTS)
def test_hostile_post_is_never_500(world, gallery, browser_of, url, data, extra):
    data = {
        k: (v.replace("GALLERY", gallery.client_id) if isinstance(v, str) else v) for k, v in data.items()
    }
    extra = dict(extra)
    client = browser_of(world.member_a) if extra.pop("user", False) else Client()
    response = client.post(url, data, **extra)
    assert response.status_code < 500, (url, data, response.status_code)
