"""Client ID metadata documents fetched through the outbound guard (scopes.oauth.client_documents).

A real HTTP receiver on loopback serves the documents. Loopback is refused by the guard unless the
test lets it through (`OUTBOUND_ALLOWED_NETWORKS`, the test-only exception), so the first attack
needs no receiver at all: an internal address is never fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from oauth2_provider.cimd import CIMDError
from oauthlib.common import Request as OauthlibRequest

from scopes.oauth.client_documents import GuardedMetadataFetcher, RegistrationLimit
from tests.accounts.audit_stream.receiver import Receiver

pytestmark = pytest.mark.attack


@pytest.fixture
def served(settings) -> Iterator[Receiver]:
    """A receiver on loopback that the guard may reach (test-only), over plain http."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_FETCH_TIMEOUT_SECONDS": 1}
    running = Receiver()
    running.start()
    yield running
    running.stop()


def url_of(receiver: Receiver, path: str = "/agent.json") -> str:
    return f"http://127.0.0.1:{receiver.port}{path}"


def document(client_id: str, **changes) -> dict:
    return {
        "client_id": client_id,
        "client_name": "Photo agent",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        **changes,
    }


def serve(receiver: Receiver, body, *, status=200, path="/agent.json", headers=None) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    receiver.answers[path] = (status, {"Content-Type": "application/json", **(headers or {})}, raw)
    return url_of(receiver, path)


def refused(client_id: str, reason: str) -> None:
    with pytest.raises(CIMDError, match=reason):
        GuardedMetadataFetcher().fetch(client_id)


def test_a_valid_document_is_fetched_with_its_cache_lifetime(served):
    client_id = url_of(served)
    serve(served, document(client_id), headers={"Cache-Control": "max-age=600"})
    fetched, max_age = GuardedMetadataFetcher().fetch(client_id)
    assert fetched["client_name"] == "Photo agent" and max_age == 600
    assert served.at("/agent.json")[0].headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    "client_id",
    [
        "https://127.0.0.1/agent.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/agent.json",
        "https://[::1]/agent.json",
        "https://localhost/agent.json",
    ],
)
def test_an_internal_address_is_never_fetched(settings, client_id):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    refused(client_id, "not fetched")


def test_a_redirect_is_not_followed(served):
    target = serve(served, document(url_of(served, "/other.json")), path="/other.json")
    client_id = url_of(served)
    served.answers["/agent.json"] = (302, {"Location": target}, b"")
    refused(client_id, "HTTP 302")
    assert served.at("/other.json") == []


def test_an_oversized_document_is_refused(served, settings):
    client_id = url_of(served)
    big = document(client_id, client_name="x" * 50, padding="y" * 20_000)
    serve(served, big)
    refused(client_id, "larger than|not fetched")


def test_a_slow_document_is_given_up_on_in_time(served):
    client_id = url_of(served)
    serve(served, document(client_id))
    served.hang_at = 1
    refused(client_id, "not fetched")


BAD_DOCUMENTS = {
    "redirect_uri on another host": (
        {"redirect_uris": ["https://evil.example/callback"]},
        "redirect_uri",
    ),
    "plain http redirect elsewhere": ({"redirect_uris": ["http://evil.example/cb"]}, "redirect_uri"),
    "client credentials": ({"grant_types": ["client_credentials"]}, "grant_types"),
    "device grant": (
        {"grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]},
        "grant_types",
    ),
    "a secret": ({"token_endpoint_auth_method": "client_secret_basic"}, "public"),
    "another client_id": ({"client_id": "https://other.example/agent.json"}, "client_id"),
    "no name": ({"client_name": ""}, "client_name"),
    "logo elsewhere": ({"logo_uri": "https://evil.example/logo.png"}, "logo_uri"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_a_document_a_self_registered_client_may_not_have_is_refused(served, case):
    changes, reason = BAD_DOCUMENTS[case]
    client_id = url_of(served)
    serve(served, {**document(client_id), **changes})
    refused(client_id, reason)


def test_not_json_is_refused(served):
    client_id = url_of(served)
    served.answers["/agent.json"] = (200, {"Content-Type": "text/html"}, b"<html></html>")
    refused(client_id, "not JSON")


def test_registration_floods_hit_the_limit_per_address_and_per_host(settings):
    """Each unknown client_id costs a fetch: past the limit the hook refuses before any fetch."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "cimd-registration-ip": (3, 3600)}
    hook = RegistrationLimit()

    def asks(address: str, client_id: str) -> bool:
        return hook.has_permission(
            OauthlibRequest("/o/authorize/", headers={"REMOTE_ADDR": address}), client_id
        )

    assert [asks("203.0.113.5", f"https://agents{n}.example/c.json") for n in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert asks("203.0.113.6", "https://agents9.example/c.json")  # another address is not held back
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "cimd-registration-host": (2, 3600)}
    answers = [asks(f"198.51.100.{n}", f"https://flood.example/{n}.json") for n in range(3)]
    assert answers == [True, True, False]  # one host's made-up ids, from many addresses
