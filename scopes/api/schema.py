"""OpenAPI: the Bearer authentication described as an OAuth 2.0 scheme, scopes read from the registry."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.views.decorators.clickjacking import xframe_options_deny
from drf_spectacular.extensions import OpenApiAuthenticationExtension

OAUTH2_SCHEME = "oauth2"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Authorization code flow (PKCE) at `/o/authorize/` and `/o/token/`; each operation names its scope."""

    target_class = "scopes.authentication.BearerTokenAuthentication"
    name = OAUTH2_SCHEME

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        view = auto_schema.view
        scopes = getattr(view, "action_scopes", {})
        key = getattr(view, "action", None) or auto_schema.method.lower()
        needed = scopes.get(key)
        return {self.name: [str(needed)] if needed else []}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        from scopes.models import Scope

        scopes = dict(Scope.objects.order_by("name").values_list("name", "description"))
        return {
            "type": "oauth2",
            "description": (
                "OAuth 2.0 authorization code flow with PKCE (S256). A token is issued for one tenant: "
                "use it under /api/t/{tenant_slug}/. Each operation lists the one scope it needs; a "
                "scope that implies it (photos.write implies photos.delete) works too."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/o/authorize/",
                    "tokenUrl": "/o/token/",
                    "refreshUrl": "/o/token/",
                    "scopes": scopes,
                }
            },
        }


@xframe_options_deny
def swagger_oauth2_redirect(request: HttpRequest) -> HttpResponse:
    """Swagger UI's OAuth redirect page, served by Django rather than as a static file.

    The page must carry the same Cross-Origin-Opener-Policy as the Swagger UI page that opened the
    sign-in popup, or the browser severs `window.opener` and the popup can never hand back the code.
    Static files (runserver, the test server) carry no such header; a Django response does.
    """
    script = static("drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.js")
    html = f'<!doctype html><html lang="en"><head><title>Signing in</title></head><body><script src="{script}"></script></body></html>'
    return HttpResponse(html)
