"""Fixtures shared by the scope tests that ask every endpoint about one real grant.

The standing-agreement table and the freshness tests both start from the same grant made through
the real flow, and introspect it as the photo API would.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.oauth import GRANT_SCOPES, Flow


@pytest.fixture
def grant(world, gallery, browser_of, resource_server):
    """owner_a's grant in acme: an access token, a refresh token and a remembered code not yet exchanged."""
    browser = browser_of(world.owner_a)
    flow = Flow(browser, gallery.client_id, GRANT_SCOPES, extra={"tenant": "acme"})
    tokens = flow.exchange(flow.authorize()).json()
    assert "photos.write" in tokens["scope"], tokens
    pending = Flow(browser, gallery.client_id, GRANT_SCOPES, extra={"tenant": "acme"})
    pending_response = pending.start()  # remembered: a code at once, exchanged after the change
    assert pending_response.status_code == 302 and "code=" in pending_response["Location"]
    return SimpleNamespace(browser=browser, tokens=tokens, pending=pending, pending_response=pending_response)
