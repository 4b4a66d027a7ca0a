"""OAuth endpoints beside DOT's: RFC 8414 metadata, RFC 7662 introspection, and DOT's token and
revocation endpoints entered into the credential's tenant and rate limited."""

from __future__ import annotations

import calendar
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot_views
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.signals import app_authorized
from oauth2_provider.views.metadata import OAuthServerMetadataView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest

from scopes.access.albums import SUPPORTED_TYPES, response_details
from scopes.access.scope_registry import holding_registry
from scopes.access.selectors import registry
from scopes.access.standing import access_token_standing
from scopes.access.tenancy import (
    enter_tenant_of_access_token,
    enter_tenant_of_code,
    enter_tenant_of_refresh_token,
    enter_tenant_of_token,
    token_checksum,
)
from scopes.device.token import poll as device_poll
from scopes.machines.selectors import token_kind_of
from scopes.models import AccessToken, Application
from scopes.oauth.client_limits import (
    client_credentials_issues,
    limit_client_authentication,
    limit_client_authentication_and_issues,
)
from scopes.oauth.introspection import may_introspect
from scopes.oidc.views import issuer, oidc_metadata

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class AuthorizationServerMetadataView(OAuthServerMetadataView):
    """RFC 8414 metadata, plus `scope_implications` so clients can normalise scopes as we do.

    Served at `/.well-known/oauth-authorization-server` and at `/.well-known/openid-configuration`:
    one document with OpenID Connect Discovery's fields (`scopes.oidc.views.oidc_metadata`), so the
    two cannot disagree on the issuer or an endpoint.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        implications = registry().implications
        data["scope_implications"] = {
            name: sorted(targets) for name, targets in sorted(implications.items()) if targets
        }
        data["code_challenge_methods_supported"] = ["S256"]
        data["grant_types_supported"] = [
            "authorization_code",
            "refresh_token",
            DEVICE_CODE_GRANT,
            "client_credentials",
        ]
        data["device_authorization_endpoint"] = issuer(request) + reverse(
            "oauth2_provider:device-authorization"
        )
        data["response_types_supported"] = ["code"]
        # Every authorization response goes to the redirect URI's query, with `iss` (RFC 9207;
        # scopes.consent.answers): a `response_mode` asking for another is not honoured, so none is
        # advertised. DOT adds the `iss` flag from the same setting that adds `iss`; stated here
        # too so the document says it whatever DOT's default becomes.
        data["response_modes_supported"] = ["query"]
        data["authorization_response_iss_parameter_supported"] = bool(
            oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS
        )
        data["authorization_details_types_supported"] = list(SUPPORTED_TYPES)  # RFC 9396 section 10
        if settings.DYNAMIC_REGISTRATION_ENABLED:  # RFC 7591 (scopes.oauth.registration)
            data["registration_endpoint"] = issuer(request) + reverse("oauth2_provider:register")
        data.update(oidc_metadata(request))
        result = JsonResponse(data)
        result["Access-Control-Allow-Origin"] = "*"
        return result


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectionView(OAuthLibMixin, View):
    """RFC 7662 introspection for confidential clients, with the token's tenant.

    Who may ask about which token is `scopes.oauth.introspection.may_introspect`; anyone else hears
    exactly what an unknown token gets.
    """

    @method_decorator(limit_client_authentication)
    @method_decorator(holding_registry)
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET:
            # Credentials and tokens never travel in a URL (access logs keep URLs): as oauthlib's own
            # endpoints do for /o/token/ and /o/revoke_token/, a query string is refused outright.
            return JsonResponse(
                {"error": "invalid_request", "error_description": "URL query parameters are not allowed."},
                status=400,
            )
        client = self._authenticated_confidential_client(request)
        if client is None:
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="introspection"'
            return response
        value = request.POST.get("token", "")
        if not value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "token is missing"}, status=400
            )
        return JsonResponse(self._describe(client, value))

    def _authenticated_confidential_client(self, request: HttpRequest) -> Application | None:
        """Only a confidential client (a resource server with a secret) may introspect tokens."""
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OauthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            return None
        client = getattr(oauthlib_request, "client", None)
        return (
            client if client is not None and client.client_type == Application.CLIENT_CONFIDENTIAL else None
        )

    @staticmethod
    def _describe(client: Application, value: str) -> dict[str, Any]:
        """RFC 7662's answer: active only while the grant stands; `scope` is what it allows now.

        A token this client may not ask about (`may_introspect`) gets what an unknown one gets.

        The same standing the API, the refresh grant and the code exchange ask (`scopes.access.standing`):
        a deactivated user, tenant or membership, a consent taken back, or an expired or revoked
        token is `{"active": false}`; a lowered role or a narrowed consent shrinks `scope`.
        """
        checksum = token_checksum(value)
        if not enter_tenant_of_access_token(checksum):
            return {"active": False}
        standing = access_token_standing(checksum)
        if standing is None or not standing.stands or not standing.effective:
            return {"active": False}
        rows = standing.rows
        if not may_introspect(client, application_id=rows.application_id, tenant_id=rows.tenant.pk):
            return {"active": False}  # RFC 7662 section 4: not this client's to know
        assert rows.user is not None and standing.expires is not None
        answer: dict[str, Any] = {
            "active": True,
            "scope": " ".join(standing.effective),
            "client_id": rows.client_id,
            # consent, service (client credentials) or personal (scopes.machines): judged alike.
            "token_kind": token_kind_of(rows.client_id, rows.grant_type),
            "username": rows.user.get_username(),
            "exp": calendar.timegm(standing.expires.utctimetuple()),
            "tenant": rows.tenant.slug,
            "token_type": "Bearer",
        }
        if standing.audience:
            answer["aud"] = list(standing.audience)  # RFC 8707 / RFC 7662: the resource it is for
        # How and when the token's user signed in (RFC 9470 section 6.2; accounts.authn).
        if standing.sign_in.acr:
            answer["acr"] = standing.sign_in.acr
        if standing.sign_in.amr:
            answer["amr"] = list(standing.sign_in.amr)
        if standing.sign_in.auth_time is not None:
            answer["auth_time"] = int(standing.sign_in.auth_time.timestamp())
        if standing.albums is not None:
            # RFC 9396 section 9.2: the albums the token reaches now (deleted or hidden ones are gone).
            answer["authorization_details"] = response_details(
                standing.effective, standing.albums, registry().implications
            )
        return answer


class TokenView(dot_views.TokenView):
    """`/o/token/`: DOT's endpoint, entered into the credential's tenant and rate limited.

    The code or refresh token in the body names its tenant (scopes.access.tenancy); an unknown one
    enters nothing and DOT answers invalid_grant as before. Failed requests (400, 401) count
    per client id and per address, in the limit introspection and revocation share
    (scopes.oauth.client_limits); past it the answer is 429 with Retry-After. Tokens issued by the
    client-credentials grant count per client too (only issued ones), read with the failures in one
    cache round trip.
    """

    @method_decorator(limit_client_authentication_and_issues(client_credentials_issues))
    @method_decorator(holding_registry)
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        grant_type = request.POST.get("grant_type", "")
        if grant_type == DEVICE_CODE_GRANT:
            # Not DOT's polling answer, which trusts a device code on its own (scopes.device.token).
            answer = device_poll(request, client=self._device_client(request))
            if answer is not None:
                return answer
            return self.authorization_flow_token_response(request)
        if grant_type == "authorization_code":
            enter_tenant_of_code(request.POST.get("code", ""))
        elif grant_type == "refresh_token":
            enter_tenant_of_refresh_token(request.POST.get("refresh_token", ""))
        return super().post(request, *args, **kwargs)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))  # as DOT's method has
    def authorization_flow_token_response(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """DOT's answer, without reading back the token it has just written when nobody listens.

        DOT reads the issued access token again by its checksum (one statement per grant) only to
        send `app_authorized` with it. The product connects no receiver; a receiver connected
        later still gets the token, read as DOT reads it.
        """
        _url, headers, body, status = self.create_token_response(request)
        if status == 200 and app_authorized.has_listeners(self):
            access_token = json.loads(body).get("access_token")
            if access_token is not None:
                token = AccessToken.objects.get(token_checksum=token_checksum(access_token))
                app_authorized.send(sender=self, request=request, token=token)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response

    def _device_client(self, request: HttpRequest) -> Application | None:
        """The client polling with a device code, authenticated as DOT does (a public one by its id)."""
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OauthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            return None
        return getattr(oauthlib_request, "client", None)


class RevokeTokenView(dot_views.RevokeTokenView):
    """`/o/revoke_token/` (RFC 7009), entered into the tenant of the token being revoked."""

    @method_decorator(limit_client_authentication)
    @method_decorator(holding_registry)
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        enter_tenant_of_token(request.POST.get("token", ""))
        return super().post(request, *args, **kwargs)
