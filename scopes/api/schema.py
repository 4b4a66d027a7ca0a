"""OpenAPI: the Bearer authentication described as an OAuth 2.0 scheme, scopes read from the registry."""

from __future__ import annotations

from typing import Any

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
                "use it under /api/t/<that tenant>/. Each operation lists the one scope it needs; a "
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
