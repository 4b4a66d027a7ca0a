"""The device flow for tests (RFC 8628): a device app, starting, entering the code, polling."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.test import Client
from django.utils import timezone

from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, DeviceGrant, Scope
from tests.factories import ApplicationFactory

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def device_app(client_id: str = "photo-frame") -> Application:
    """A public device-grant app allowed every scope."""
    app = ApplicationFactory(
        name="Photo Frame", client_id=client_id, authorization_grant_type=Application.GRANT_DEVICE_CODE
    )
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=app, scope=scope, reason=f"to use {scope.name}")
    return app


def device_start(scope: str, client_id: str = "photo-frame") -> dict:
    body = urlencode({"client_id": client_id, "scope": scope})
    response = Client().post(
        "/o/device-authorization/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.content
    return response.json()


def device_page(browser: Client, user_code: str) -> str:
    """Enter the code and return the approval page's HTML."""
    entered = browser.post("/o/device/", {"user_code": user_code})
    assert entered.status_code == 302, entered.content[:300]
    return browser.get("/o/device/approve/").content.decode()


def device_poll(device_code: str, client_id: str = "photo-frame"):
    DeviceGrant.objects.filter(device_code=device_code).update(
        last_checked=timezone.now() - timedelta(seconds=60)
    )
    return Client().post(
        "/o/token/", {"grant_type": DEVICE, "device_code": device_code, "client_id": client_id}
    )
