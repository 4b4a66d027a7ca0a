"""OpenID Connect endpoints: discovery metadata, JWKS, userinfo and RP-initiated logout.

Discovery: `/.well-known/openid-configuration` and the RFC 8414 document are one document
(`server_metadata`), so issuer and endpoints cannot disagree. Userinfo answers from the access
token's standing at request time (`scopes.standing`), exactly as the API judges the token: a token
that no longer stands is refused, a role change shows at once.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.oidc import RPInitiatedLogoutView

from scopes.access.audience import USERINFO_PATH, WELL_KNOWN, resource_problem
from scopes.access.challenges import insufficient_scope_challenge
from scopes.access.decision import Reason
from scopes.access.personal_tokens import PERSONAL_TOKENS_CLIENT_ID
from scopes.access.selectors import registry
from scopes.access.standing import access_token_standing
from scopes.access.tenancy import enter_tenant_of_access_token, token_checksum
from scopes.constants import ScopeName
from scopes.oidc import keys
from scopes.oidc.claims import CLAIMS_SUPPORTED, identity_claims
from scopes.registry import closure
from scopes.usage import recorder as usage

REALM = "userinfo"


def issuer(request: HttpRequest) -> str:
    """Our issuer: the site's root (RFC 8414 and OpenID Connect Discovery agree on it)."""
    return oauth2_settings.OIDC_ISS_ENDPOINT or request.build_absolute_uri("/").rstrip("/")


def oidc_metadata(request: HttpRequest) -> dict[str, Any]:
    """What OpenID Connect Discovery 1.0 adds to the RFC 8414 document (both publish all of it)."""

    def url(name: str) -> str:
        return issuer(request) + reverse(name)

    return {
        "issuer": issuer(request),
        "userinfo_endpoint": url("oauth2_provider:user-info"),
        "jwks_uri": url("oauth2_provider:jwks-info"),
        "end_session_endpoint": url("oauth2_provider:rp-initiated-logout"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }


@method_decorator(never_cache, name="dispatch")
class JwksView(View):
    """`/o/.well-known/jwks.json`: the public keys that may have signed a live ID token."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = JsonResponse({"keys": keys.public_jwks()})
        response["Access-Control-Allow-Origin"] = "*"
        return response


def _refusal(status: int, error: str, detail: str, *, challenge: str, reason: str) -> JsonResponse:
    response = JsonResponse({"error": error, "reason": reason, "detail": detail}, status=status)
    response["WWW-Authenticate"] = challenge
    return response


def _invalid_token(problem: str) -> JsonResponse:
    return _refusal(
        401,
        "invalid_token",
        f"The access token is not valid: {problem}.",
        challenge=f'Bearer realm="{REALM}", error="invalid_token"',
        reason="invalid_token",
    )


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class UserInfoView(View):
    """`/o/userinfo/` (OpenID Connect Core 5.3): the claims the token's grant allows now.

    DOT's view reads the token row alone; this one asks the standing every endpoint asks, so a
    deactivated user, tenant or membership, or a consent taken back, is refused here as the API
    refuses it (401 `invalid_token`), and the role claim is the user's role now.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._challenged(request, self._answer(request))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._challenged(request, self._answer(request))

    @staticmethod
    def _challenged(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Every 401 and 403 names userinfo's resource metadata (RFC 9728 section 5.1), as the API's do."""
        challenge = response.get("WWW-Authenticate")
        if challenge:
            url = issuer(request) + WELL_KNOWN + USERINFO_PATH
            response["WWW-Authenticate"] = f'{challenge}, resource_metadata="{url}"'
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or len(value.split()) != 1:
            response = JsonResponse(
                {"error": "invalid_request", "reason": "token_missing", "detail": "Send a Bearer token."},
                status=401,
            )
            response["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
            return response
        checksum = token_checksum(value)
        if not enter_tenant_of_access_token(checksum):
            return _invalid_token("the token is unknown or has been revoked")
        standing = access_token_standing(checksum, now=timezone.now())
        if standing is None:
            return _invalid_token("the token is unknown or has been revoked")
        if not standing.stands:
            return _invalid_token(standing.detail)
        # RFC 8707: a token bound to another resource (an API's) is refused here, as the API
        # refuses a token bound to userinfo; the same rule (scopes.access.audience).
        wrong_resource = resource_problem(standing.audience, issuer(request) + USERINFO_PATH)
        if wrong_resource:
            return _refusal(
                401,
                "invalid_token",
                f"The access token is not valid here: {wrong_resource}.",
                challenge=f'Bearer realm="{REALM}", error="invalid_token"',
                reason=str(Reason.WRONG_RESOURCE),
            )
        allowed = closure(standing.effective, registry().implications)
        if ScopeName.OPENID not in allowed:
            return _refusal(
                403,
                "insufficient_scope",
                "Userinfo needs the scope openid.",
                challenge=insufficient_scope_challenge(
                    [ScopeName.OPENID],
                    realm=REALM,
                    personal_token=standing.rows.client_id == PERSONAL_TOKENS_CLIENT_ID,
                ),
                reason="scope_missing",
            )
        claims = identity_claims(standing.rows, allowed)
        rows = standing.rows
        if rows.user is not None and rows.application_id is not None:
            # Userinfo exercises `openid` and the claims' scopes it discloses (scopes.usage).
            usage.note_grant_use(
                tenant_id=rows.tenant.pk,
                application_id=rows.application_id,
                user_id=rows.user.pk,
                scopes=usage.grant_scopes_exercised(allowed, id_token=True, refresh_token=False),
            )
        return JsonResponse(claims)


class LogoutView(RPInitiatedLogoutView):
    """`/o/logout/` (OpenID Connect RP-Initiated Logout 1.0): DOT's, in our page layout.

    It ends the session at this server and returns to a registered `post_logout_redirect_uri`.
    Tokens are left alone (OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS is off): apps keep what the user
    granted until the user takes it back at /account/apps/, where revocation is audited.
    """

    template_name = "scopes/logout_confirm.html"
