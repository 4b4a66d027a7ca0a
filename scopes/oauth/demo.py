"""The demo OAuth client that `seed_demo` creates, with the scopes it may ask for and why."""

from __future__ import annotations

from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, Scope

DEMO_CLIENT_ID = "demo-photos-client"
DEMO_REDIRECT_URIS = [
    "http://127.0.0.1:8000/api/docs/oauth2-redirect.html",
    "http://localhost:8000/api/docs/oauth2-redirect.html",
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
}


def seed_demo_client() -> Application:
    """Create or update the demo public client (PKCE) and its allowed scopes."""
    app, _ = Application.objects.update_or_create(
        client_id=DEMO_CLIENT_ID,
        defaults={
            "name": "Demo Photo Gallery",
            "publisher": "Granular Photos (demo)",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": " ".join(DEMO_REDIRECT_URIS),
            "client_secret": "",
            "hash_client_secret": False,
            "skip_authorization": False,
            "tenant": None,
        },
    )
    scopes = {s.name: s for s in Scope.objects.filter(name__in=[str(n) for n in DEMO_SCOPES])}
    for name, (required, reason) in DEMO_SCOPES.items():
        ApplicationScope.objects.update_or_create(
            application=app, scope=scopes[name], defaults={"required": required, "reason": reason}
        )
    return app
