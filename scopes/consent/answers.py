"""How the consent page answers: to the client's redirect URI (always with `iss`), or a page here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import (
    InvalidClientIdError,
    InvalidRedirectURIError,
    MismatchingRedirectURIError,
    MissingClientIdError,
    MissingRedirectURIError,
)

from scopes.consent.outcome import ClientError
from scopes.models import Application


class Answers(AuthorizationView):
    """The answers of `/o/authorize/` (scopes.consent.views), apart from the decision."""

    def sign_in_again(self, request: HttpRequest) -> HttpResponse:
        """prompt=login (or max_age passed): the user signs in again, then the request continues.

        Our sign-in page sends a signed-in user straight on, so asking it would authenticate
        nobody: the session is ended first (what OpenID Connect's "reauthenticate" asks for). The
        request continues without `prompt` and `max_age`, which the new sign-in satisfied (kept,
        `max_age=0` would send the user round again).
        """
        logout(request)
        query = request.GET.copy()
        for name in ("prompt", "max_age"):
            query.pop(name, None)
        hint = request.GET.get("login_hint", "")
        following = {
            REDIRECT_FIELD_NAME: f"{request.path}?{query.urlencode()}",
            **({"login_hint": hint} if hint else {}),
        }
        return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode(following)}")

    def step_up(self, request: HttpRequest) -> HttpResponse:
        """The requested scopes need a second factor given recently: ask for it, then come back.

        The step-up page (accounts.factor_views) returns to this very request, which then finds
        the session's sign-in strong enough (or sends a person without a factor to set one up).
        """
        following = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('account-verify')}?{following}")

    def handle_no_permission(self) -> HttpResponse:
        """Not signed in: DOT's answer (prompt=none: login_required), with `login_hint` passed on."""
        response = super().handle_no_permission()
        hint = self.request.GET.get("login_hint", "")
        location = response.get("Location", "") if response.status_code == 302 else ""
        if hint and location.startswith(resolve_url(settings.LOGIN_URL)):
            response["Location"] = f"{location}&{urlencode({'login_hint': hint})}"
        return response

    def client_error(
        self, oauth: Mapping[str, Any], application: Application | None, outcome: ClientError
    ) -> HttpResponse:
        """An error for the client, sent to its (already validated) redirect URI with its state."""
        error = outcome.error(description=outcome.description, state=oauth.get("state") or None)
        return self.error_response(
            OAuthToolkitError(error=error, redirect_uri=oauth["redirect_uri"]),
            application=application if outcome.name_app else None,
        )

    @staticmethod
    def issuer(request: HttpRequest) -> str:
        """Our issuer, as the metadata and `iss` say it (resource identifiers start with it)."""
        return str(oauth2_settings.oauth2_authorization_server_issuer(request))

    def redirect(self, redirect_to: str, application: Application | None) -> OAuth2ResponseRedirect:
        """Every authorization response to the client leaves through here, so every one carries `iss`.

        RFC 9207: DOT adds `iss` to successful responses only; errors (`access_denied`,
        `invalid_scope`, `login_required`, `consent_required`, the tenant policy's refusal, PKCE
        and `authorization_details` errors) are built by DOT's mixin, DOT's `handle_no_permission`
        and `client_error`, and all of them, like success, end in this method. A strict client
        (oauth4webapi) refuses an error without `iss`, and mix-up protection must hold on the error
        path too. DOT's helper replaces any `iss` already present, so adding it twice is harmless.
        """
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            redirect_to = _add_iss_to_redirect(
                redirect_to, oauth2_settings.oauth2_authorization_server_issuer(self.request)
            )
        return super().redirect(redirect_to, application)

    def error_response(
        self, error: OAuthToolkitError, application: Application | None, **kwargs: Any
    ) -> HttpResponse:
        """Errors the client may hear go to its redirect URI; any other is a page here, never a redirect.

        An unknown `client_id` or a `redirect_uri` that is not registered exactly (RFC 6749 section
        4.1.2.1) must not send the user anywhere: DOT would render the consent template without an app.
        """
        if not isinstance(error, FatalClientError):
            return super().error_response(error, application, **kwargs)
        oauthlib_error = error.oauthlib_error
        if isinstance(oauthlib_error, InvalidClientIdError | MissingClientIdError):
            message = "The app that sent you here is not registered."
        elif isinstance(
            oauthlib_error, InvalidRedirectURIError | MismatchingRedirectURIError | MissingRedirectURIError
        ):
            message = "The app asked to send you back to an address it has not registered."
        else:
            message = f"The app's request cannot be used: {oauthlib_error.description}"
        return render(
            self.request,
            "scopes/consent_error.html",
            {"message": f"{message} Nothing was sent to it."},
            status=oauthlib_error.status_code,
        )

    def refuse(self, request: HttpRequest, message: str) -> HttpResponse:
        """The form cannot be used: say so here (the client hears nothing)."""
        return render(request, "scopes/consent_error.html", {"message": message}, status=400)
