"""The demo OAuth clients that `seed_demo` creates, with the scopes each may ask for and why.

Made when missing, never changed afterwards: what an administrator set on them stays.
"""

from __future__ import annotations

from scopes.constants import ScopeName
from scopes.models import Application, Scope
from scopes.services import AllowedScope, application_scopes_set

DEMO_CLIENT_ID = "demo-photos-client"
DEMO_REDIRECT_URIS = [
    # Loopback redirect URIs match on any port (RFC 8252 7.3), so `RUN_ADDRESS=127.0.0.1:8001` works too.
    "http://127.0.0.1:8000/api/docs/oauth2-redirect.html",
    "http://localhost:8000/api/docs/oauth2-redirect.html",
    # Where `manage.py oauth_token` (and the README's examples) catch the code: nothing listens.
    "http://127.0.0.1:8765/callback",
]
DEMO_SCOPES: dict[ScopeName, tuple[bool, str]] = {
    ScopeName.PROFILE_READ: (True, "to show your name in the gallery"),
    ScopeName.PHOTOS_READ: (False, "to show your organisation's photos"),
    ScopeName.PHOTOS_UPLOAD: (False, "to upload photos you pick"),
    ScopeName.PHOTOS_UPDATE: (False, "to let you retitle and sort photos"),
    ScopeName.PHOTOS_DELETE: (False, "to let you delete photos from the gallery"),
    ScopeName.PHOTOS_WRITE: (False, "to manage photos on your behalf"),
    ScopeName.ALBUMS_READ: (False, "to show albums"),
    ScopeName.ALBUMS_WRITE: (False, "to build albums for you"),
    ScopeName.OFFLINE_ACCESS: (False, "to sync in the background while you are away"),
    ScopeName.OPENID: (False, "to sign you in"),
    ScopeName.PROFILE: (False, "to greet you by name"),
    ScopeName.EMAIL: (False, "to send you a receipt of what you upload"),
}

# A command-line tool that signs in with the device flow (RFC 8628): the user types its code at /o/device/.
CLI_CLIENT_ID = "photos-cli"
CLI_SCOPES: dict[ScopeName, tuple[bool, str]] = {
    ScopeName.PHOTOS_READ: (False, "to list and download your organisation's photos"),
    ScopeName.PHOTOS_UPLOAD: (False, "to upload the files you name"),
    ScopeName.ALBUMS_READ: (False, "to list albums"),
    ScopeName.OFFLINE_ACCESS: (False, "to stay signed in between runs"),
}


def _ensure(
    client_id: str, *, scopes: dict[ScopeName, tuple[bool, str]], defaults: dict[str, object]
) -> Application:
    """The app `client_id`, made with `scopes` when missing; an existing one is returned as it is."""
    app = Application.objects.filter(client_id=client_id).first()
    if app is not None:
        return app
    app = Application.objects.create(
        client_id=client_id, client_secret="", hash_client_secret=False, **defaults
    )
    rows = {s.name: s for s in Scope.objects.filter(name__in=[str(n) for n in scopes])}
    allowed = [
        AllowedScope(scope=rows[name], required=req, reason=why) for name, (req, why) in scopes.items()
    ]
    application_scopes_set(actor=None, application=app, allowed=allowed)
    return app


def seed_demo_client() -> Application:
    """The demo public client (authorization code + PKCE), made if missing."""
    return _ensure(
        DEMO_CLIENT_ID,
        scopes=DEMO_SCOPES,
        defaults={
            "name": "Demo Photo Gallery",
            "publisher": "Granular Photos (demo)",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": " ".join(DEMO_REDIRECT_URIS),
            "skip_authorization": False,
            "tenant": None,
        },
    )


def seed_demo_clients() -> list[Application]:
    """Both demo clients: the gallery (code flow) and `photos-cli` (device flow), made if missing."""
    cli = _ensure(
        CLI_CLIENT_ID,
        scopes=CLI_SCOPES,
        defaults={
            "name": "Photos CLI",
            "publisher": "Granular Photos (demo)",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_DEVICE_CODE,
            "redirect_uris": "",
            "skip_authorization": False,
            "tenant": None,
        },
    )
    return [seed_demo_client(), cli]
