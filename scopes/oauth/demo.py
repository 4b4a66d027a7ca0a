"""The demo OAuth client that `seed_demo` creates, with the scopes it may ask for and why."""

from __future__ import annotations

from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, Scope
from scopes.services import AllowedScope, application_scopes_set

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
    ScopeName.OPENID: (False, "to sign you in"),
    ScopeName.PROFILE: (False, "to greet you by name"),
    ScopeName.EMAIL: (False, "to send you a receipt of what you upload"),
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
    # The demo's scopes set as listed; any other an administrator allowed since is kept.
    kept = [
        AllowedScope(scope=link.scope, required=link.required, reason=link.reason)
        for link in ApplicationScope.objects.select_related("scope").filter(application=app)
        if link.scope.name not in DEMO_SCOPES
    ]
    demo = [
        AllowedScope(scope=scopes[name], required=required, reason=reason)
        for name, (required, reason) in DEMO_SCOPES.items()
    ]
    application_scopes_set(actor=None, application=app, allowed=[*kept, *demo])
    return app
