"""A real headless Chromium (Debian's), driven by Playwright, against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.oauth import REDIRECT_URI

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# How long an `expect` waits for the page to get there. Playwright's 5 s default is too short on a
# two-core CI machine running two test workers, the live server and Chromium at once: a passkey's
# registration (two fetches and the authenticator's ceremony) once took longer and failed a green
# change. Only a failing test waits the full 15 s.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


class Callback:
    """Catches the redirect to the client's callback, where no server listens."""

    def __init__(self) -> None:
        self.url: str | None = None


@pytest.fixture
def page(chromium: Browser) -> Iterator[tuple[Page, Callback]]:
    context = chromium.new_context(viewport={"width": 900, "height": 1100})
    page = context.new_page()
    callback = Callback()

    def catch(route, request) -> None:  # type: ignore[no-untyped-def]
        callback.url = request.url
        route.fulfill(status=200, content_type="text/html", body="<h1>Back at the app</h1>")

    page.route(REDIRECT_URI + "**", catch)
    yield page, callback
    context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, username: str, password: str = "pw") -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
