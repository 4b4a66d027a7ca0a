"""The device flow end to end: a CLI-like client polls while a person approves in a real browser."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from playwright.sync_api import expect

from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, DeviceGrant, Scope
from tests.browser.conftest import screenshot, sign_in
from tests.factories import ApplicationFactory
from tests.oauth import DEVICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class PollingClient(threading.Thread):
    """What a TV or a CLI does: start the flow, show the code, poll the token endpoint at the interval."""

    def __init__(self, base_url: str, client_id: str, scope: str) -> None:
        super().__init__(daemon=True)
        metadata = requests.get(f"{base_url}/.well-known/oauth-authorization-server", timeout=10).json()
        self.token_endpoint = metadata["token_endpoint"]
        started = requests.post(
            metadata["device_authorization_endpoint"],
            data={"client_id": client_id, "scope": scope},
            timeout=10,
        )
        started.raise_for_status()
        self.device = started.json()
        self.client_id = client_id
        self.answers: list[str] = []
        self.token: dict | None = None

    def run(self) -> None:
        interval = 1  # the test shortens the grant's interval to one second (see below)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            time.sleep(interval)
            answer = requests.post(
                self.token_endpoint,
                data={
                    "grant_type": DEVICE,
                    "device_code": self.device["device_code"],
                    "client_id": self.client_id,
                },
                timeout=10,
            )
            body = answer.json()
            if answer.status_code == 200:
                self.token = body
                return
            self.answers.append(body["error"])
            if body["error"] == "slow_down":
                interval += 5
            elif body["error"] != "authorization_pending":
                return


def test_guest_enters_the_code_ticks_scopes_and_the_cli_gets_a_role_capped_token(live_server, world, page):
    app = ApplicationFactory(
        name="Photos CLI", client_id="photos-cli", authorization_grant_type=Application.GRANT_DEVICE_CODE
    )
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=app, scope=scope, reason=f"to use {scope.name}")
    cli = PollingClient(
        live_server.url, "photos-cli", "photos.read photos.upload albums.write offline_access"
    )
    DeviceGrant.objects.filter(device_code=cli.device["device_code"]).update(interval=1)
    cli.start()

    browser, _callback = page
    browser.goto(cli.device["verification_uri"])
    sign_in(browser, "guest_a")
    browser.get_by_label("Code").fill(cli.device["user_code"].lower().replace("-", " "))
    browser.get_by_role("button", name="Continue").click()
    expect(browser.get_by_role("heading", level=1)).to_contain_text("Photos CLI")
    expect(browser.get_by_text(cli.device["user_code"])).to_be_visible()
    # A Guest cannot grant uploads or album changes: shown greyed out with the reason, not offered.
    expect(
        browser.get_by_text("Your role Guest in Acme does not allow this", exact=False).first
    ).to_be_visible()
    offline = browser.get_by_label("Keep this access when you are not using the app", exact=False)
    offline.uncheck()
    screenshot(browser, "device-consent-guest")
    browser.get_by_role("button", name="Allow").click()
    expect(browser.get_by_role("heading", level=1)).to_contain_text("is connected")

    cli.join(timeout=60)
    assert cli.token is not None, cli.answers
    assert set(cli.answers) <= {"authorization_pending"}
    # albums.write is offered as the part a Guest may grant (albums.read); upload not at all.
    assert cli.token["scope"] == "albums.read photos.read"
    assert "refresh_token" not in cli.token  # offline access was unticked
    api = requests.get(
        f"{live_server.url}/api/t/acme/photos/",
        headers={"Authorization": f"Bearer {cli.token['access_token']}"},
        timeout=10,
    )
    assert api.status_code == 200
