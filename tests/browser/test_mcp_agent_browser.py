"""An AI agent built on the official MCP TypeScript SDK connects itself, from a bare API URL.

The agent is `tests/mcp_agent/agent.mjs`: the SDK's client authorization code
(`@modelcontextprotocol/sdk/client/auth.js`, pinned in tests/mcp_agent/package-lock.json and
installed by `.ci/run`). It is driven through the SDK's `auth()`, which calls
`discoverOAuthProtectedResourceMetadata`, `discoverAuthorizationServerMetadata`,
`startAuthorization` and `exchangeAuthorization` (through `fetchToken`), and `registerClient` when it
registers by RFC 7591; the agent reads the API's challenges with `extractWWWAuthenticateParams`.
Its `client_id` is the URL of its client ID metadata document, served over TLS on loopback by the
test (tests/scopes/oauth/agents.py), or the one dynamic registration gave it. The user signs in
and ticks lines on the consent page in Chromium.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from scopes.access.policy import AppPolicyMode
from scopes.models import Application
from scopes.tenant_policy import services
from scopes.tenant_policy.models import AccessRequest, RequestStatus
from tests.browser.conftest import screenshot, sign_in
from tests.oauth import REDIRECT_URI
from tests.scopes.oauth.agents import Agent, serve_agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT_DIR = Path(__file__).resolve().parents[1] / "mcp_agent"


@pytest.fixture
def agent(settings, tmp_path, monkeypatch) -> Iterator[Agent]:
    yield from serve_agent(settings, tmp_path, monkeypatch)


@pytest.fixture
def sdk() -> Path:
    """The SDK, installed from its lock file (CI runs `npm ci` before the suite)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (apt-get install -y nodejs npm); .ci/run installs them")
    if not (AGENT_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AGENT_DIR, check=True, timeout=300)
    return AGENT_DIR


class Running:
    """The agent's process: JSON lines out, callback URLs in."""

    def __init__(self, sdk: Path, live_server: Any, client_id: str, scope: str) -> None:
        self.process = subprocess.Popen(
            ["node", "agent.mjs", f"{live_server.url}/api/t/acme/", client_id, REDIRECT_URI, scope],
            cwd=sdk,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []

    def until(self, event: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            raw = self.process.stdout.readline()
            if not raw:
                self.process.wait(timeout=30)
                error = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"the agent ended before {event!r}: {error}")
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == event:
                return line

    def answer(self, callback: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(callback + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def run(sdk: Path, live_server: Any) -> Iterator[Any]:
    started: list[Running] = []

    def start(client_id: str, scope: str) -> Running:
        started.append(Running(sdk, live_server, client_id, scope))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def allow(browser: Page, callback: Any, *, untick: tuple[str, ...] = ()) -> str:
    """On the consent page: untick some lines, Allow; the callback URL the browser reached."""
    for name in untick:
        browser.locator(f'input[name="scope"][value="{name}"]').uncheck()
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    assert callback.url is not None
    return callback.url


def test_the_mcp_sdk_registers_itself_consents_line_by_line_and_asks_for_a_missing_scope(
    live_server, world, agent, page, run
):
    browser, callback = page
    agent_run = run(agent.client_id, "photos.read albums.read")
    asked = agent_run.until("authorize")
    url = urlparse(asked["authorization_url"])
    query = parse_qs(url.query)
    assert query["client_id"] == [agent.client_id]
    assert query["resource"] == [f"{live_server.url}/api/t/acme/"]
    assert query["code_challenge_method"] == ["S256"]
    browser.goto(asked["authorization_url"])
    sign_in(browser, "member_a")
    expect(browser.locator(".unverified")).to_contain_text("not verified by Acme")
    expect(browser.locator(".unverified")).to_contain_text(agent.client_id)
    screenshot(browser, "mcp-agent-consent-not-verified")
    agent_run.answer(allow(browser, callback, untick=("albums.read",)))
    assert agent_run.until("tokens")["scope"] == "photos.read"

    # The API refuses albums naming the scope; the agent asks for exactly that one.
    again = agent_run.until("authorize")
    query = parse_qs(urlparse(again["authorization_url"]).query)
    assert query["scope"] == ["albums.read"] and query["include_granted_scopes"] == ["true"]
    callback.url = None
    browser.goto(again["authorization_url"])
    expect(browser.locator('input[name="scope"]')).to_have_count(1)  # only the new line is asked
    agent_run.answer(allow(browser, callback))
    done = agent_run.until("done")

    assert done["statuses"] == [401, 200, 403, 200]
    assert done["missing_scope"] == "albums.read"
    assert (done["first_scope"], set(done["final_scope"].split())) == (
        "photos.read",
        {"photos.read", "albums.read"},
    )
    assert done["client_id"] == agent.client_id
    assert done["client_id_metadata_document_supported"] is True
    assert done["resource_metadata"]["resource"] == f"{live_server.url}/api/t/acme/"
    assert done["authorization_server"].rstrip("/") == live_server.url
    challenge = next(line for line in agent_run.lines if line["event"] == "call")
    assert 'resource_metadata="' in challenge["www_authenticate"]
    app = Application.objects.get(client_id=agent.client_id)
    assert (app.registration_source, app.metadata_url) == ("cimd", agent.client_id)


def test_under_approved_apps_only_the_agent_waits_in_the_queue_until_an_administrator_approves(
    live_server, world, agent, page, run
):
    services.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)
    browser, callback = page
    agent_run = run(agent.client_id, "photos.read")
    asked = agent_run.until("authorize")
    browser.goto(asked["authorization_url"])
    sign_in(browser, "member_a")
    expect(browser.get_by_role("alert")).to_contain_text("blocked by Acme's app policy")
    expect(browser.get_by_role("button", name="Allow")).to_have_count(0)
    browser.get_by_role("link", name="Ask the administrators").first.click()
    browser.get_by_label("Message to the administrators (optional)").fill("The trip planner agent.")
    browser.get_by_role("button", name="Send the request").click()
    request = AccessRequest.all_tenants.get()
    app = Application.objects.get(client_id=agent.client_id)
    assert (request.application, request.status) == (app, RequestStatus.PENDING)
    # Not approved yet: the same authorization still ends at the policy's refusal.
    browser.goto(asked["authorization_url"])
    expect(browser.get_by_role("alert")).to_contain_text("blocked by Acme's app policy")
    assert callback.url is None and agent_run.process.poll() is None  # the agent is still waiting

    services.access_request_decide(
        actor=world.owner_a, tenant=world.acme, request_id=request.pk, approve=True
    )
    browser.goto(asked["authorization_url"])
    agent_run.answer(allow(browser, callback))
    assert agent_run.until("tokens")["scope"] == "photos.read"
    assert agent_run.until("call")["status"] == 200  # the photos it was denied before approval


def test_without_a_metadata_document_the_sdk_registers_by_rfc_7591_where_the_tenant_allows_it(
    live_server, world, page, run
):
    services.app_policy_set(
        actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.ANY, dynamic_clients=True
    )
    browser, callback = page
    agent_run = run("-", "photos.read albums.read")
    asked = agent_run.until("authorize")
    app = Application.objects.get(client_id=asked["client_id"])
    assert (app.registration_source, app.name) == ("dcr", "MCP SDK agent")
    browser.goto(asked["authorization_url"])
    sign_in(browser, "member_a")
    expect(browser.locator(".unverified")).to_contain_text("not verified by Acme")
    agent_run.answer(allow(browser, callback, untick=("albums.read",)))
    again = agent_run.until("authorize")
    callback.url = None
    browser.goto(again["authorization_url"])
    agent_run.answer(allow(browser, callback))
    done = agent_run.until("done")
    assert done["statuses"] == [401, 200, 403, 200]
    assert set(done["final_scope"].split()) == {"photos.read", "albums.read"}
