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

    target_class = "api.authentication.BearerTokenAuthentication"
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


# --- Refusals: every tenant operation documents the answers of the decision's table (docs/architecture.md, "One API request"), not only success.

_TEXT = {"type": "string"}
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Any refusal: a stable machine `reason` and a sentence for people.",
        "properties": {"error": _TEXT, "reason": _TEXT, "detail": _TEXT},
        "required": ["error", "reason", "detail"],
    },
    "InvalidRequest": {
        "type": "object",
        "description": "Bad input (400); `fields` says which input, when the body could be read at all.",
        "properties": {
            "error": _TEXT,
            "reason": _TEXT,
            "detail": _TEXT,
            "fields": {"type": "object", "additionalProperties": {}},
        },
        "required": ["error", "reason", "detail"],
    },
    "Refusal": {
        "type": "object",
        "description": (
            "403: the token lacks the scope (`scope_missing`), the role forbids the action "
            "(`role_forbids`), the object is not yours (`not_owner`), or an album-limited token "
            "(RFC 9396 authorization details) would put something outside its albums: an upload or "
            "move without one of its albums, or a new album (`resource_not_granted`)."
        ),
        "properties": {
            "error": {"type": "string", "enum": ["insufficient_scope", "forbidden"]},
            "reason": {
                "type": "string",
                "enum": ["scope_missing", "role_forbids", "not_owner", "resource_not_granted"],
            },
            "detail": _TEXT,
            "required_scopes": {"type": "array", "items": _TEXT},
            "granted_scopes": {"type": "array", "items": _TEXT},
            "request_access": {
                "type": "string",
                "format": "uri",
                "description": (
                    "With `role_forbids` only: a page where the signed-in user asks the tenant's "
                    "administrators for the missing right (a browser link, not an API call)."
                ),
            },
        },
        "required": ["error", "reason", "detail", "required_scopes", "granted_scopes"],
    },
}
_CHALLENGE = {"WWW-Authenticate": {"schema": _TEXT, "description": "RFC 6750 Bearer challenge."}}


def _refusal(description: str, component: str, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}
    return {"description": description, "content": content, **({"headers": headers} if headers else {})}


def document_refusals(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the refusals every tenant operation can answer.

    400 (bad input; a control character anywhere in the request), 401 (token missing or not
    valid), 403 (scope, role or ownership), 404 (tenant or object not visible, all identical);
    operations with a body add 413 and 415.
    """
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/t/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            reads_input = "requestBody" in operation or any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            )
            refusals = {
                "401": _refusal(
                    "No valid access token (`invalid_token`), or a token bound to another resource "
                    "(RFC 8707, `wrong_resource`).",
                    "Error",
                    headers=_CHALLENGE,
                ),
                "403": _refusal(
                    "The token, the role or ownership does not allow this.", "Refusal", headers=_CHALLENGE
                ),
                "404": _refusal(
                    "No such tenant or object, or not visible to you (indistinguishable).", "Error"
                ),
            }
            # Every operation reads its path and headers: a control character in any of them (or in
            # any query parameter, declared or not) is a 400 (project.middleware), so every one
            # documents 400; the description names the input an operation declares.
            refusals["400"] = _refusal(
                "The input is not valid." if reads_input else "A control character in the request.",
                "InvalidRequest",
            )
            if "requestBody" in operation:
                refusals["413"] = _refusal("The request body is too large.", "Error")
                refusals["415"] = _refusal("The body's media type is not accepted.", "Error")
            for status, answer in refusals.items():
                responses.setdefault(status, answer)
    return result
