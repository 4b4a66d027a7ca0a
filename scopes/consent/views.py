"""The consent page, `/o/authorize/`: line-item consent, capped by the app, the tenant's policy,
the role and the user's ticks.

DOT does the OAuth (request validation, codes, PKCE, tokens); this view decides what the user
is asked and what is granted, and never trusts the consent form for more than the user's ticks.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2 import AccessDeniedError, InvalidRequestError
from oauthlib.oauth2.rfc6749.errors import (
    ConsentRequired,
    InvalidClientIdError,
    InvalidRedirectURIError,
    LoginRequired,
    MismatchingRedirectURIError,
    MissingClientIdError,
    MissingRedirectURIError,
    OAuth2Error,
)

from accounts import tenancy
from accounts.models import Membership, signed_in
from scopes.access.albums import InvalidDetails, format_limit
from scopes.consent.album_pages import AlbumsOnPage, album_request_of, albums_for_page, albums_from_form
from scopes.consent.authorize import (  # noqa: F401  (CONSENT_SALT: tests sign forms with it)
    CONSENT_MAX_AGE,
    CONSENT_SALT,
    DEVICE_CODE_GRANT,
    OAUTH_FIELDS,
    PROMPT_VALUES,
    SESSION_NONCES,
    SINGLE_VALUED,
    InteractionRequired,
    InvalidAuthorizationDetails,
    _eligible_memberships,
    _signed_in_within,
    _to_sign_in,
    _token_scopes,
    read_signed_form,
)
from scopes.consent.page import page_context
from scopes.consent.rules import ConsentPlan, ShownPlan
from scopes.consent.selectors import consent_plan
from scopes.consent.services import consent_form_use, consent_grant
from scopes.models import Application


@method_decorator(never_cache, name="dispatch")
class ConsentView(AuthorizationView):
    """`/o/authorize/`: line-item consent, capped by the app, the tenant role and the user's ticks."""

    template_name = "scopes/authorize.html"

    # --- GET: validate the OAuth request, then ask (or answer from remembered consent)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        if credentials.get("code_challenge_method") != "S256":
            # PKCE is required and only S256 is accepted; refuse before showing anything.
            return self._client_error(
                credentials, None, InvalidRequestError, 'PKCE with code_challenge_method "S256" is required.'
            )
        repeated = sorted(name for name in SINGLE_VALUED if len(request.GET.getlist(name)) > 1)
        if repeated:
            # RFC 6749 3.1: a parameter sent more than once is an error. Read with .get(), only the
            # last copy would count: prompt=none&prompt=consent would show a page.
            return self._client_error(
                credentials, None, InvalidRequestError, f"{', '.join(repeated)} must not be repeated."
            )
        prompt = set(request.GET.get("prompt", "").split())
        unknown = sorted(prompt - PROMPT_VALUES)
        if unknown or ("none" in prompt and len(prompt) > 1):
            # OpenID Connect Core 3.1.2.1: none with any other value is an error; a value we do not
            # know is one too, rather than silently ignoring what the client meant to ask for.
            what = f"prompt={' '.join(unknown)} is not supported" if unknown else "prompt=none stands alone"
            return self._client_error(credentials, None, InvalidRequestError, what + ".")
        application = Application.objects.get(client_id=credentials["client_id"])
        try:
            album_request = album_request_of(request, application)
        except InvalidDetails as error:
            # RFC 9396 section 5, before any page is shown (and before prompt=login signs anyone out).
            return self._client_error(credentials, application, InvalidAuthorizationDetails, str(error))
        if album_request is not None:
            scopes = list(dict.fromkeys([*scopes, *album_request.actions]))
        if "login" in prompt:
            return self._prompt_login(request)
        max_age = request.GET.get("max_age")
        if max_age is not None:
            if not max_age.isascii() or not max_age.isdigit() or len(max_age) > 9:
                return self._client_error(
                    credentials, None, InvalidRequestError, "max_age must be a whole number of seconds."
                )
            if not _signed_in_within(request, int(max_age)):
                # OpenID Connect Core 3.1.2.1: too long ago, the user must sign in again (silently: no).
                if "none" in prompt:
                    return self._client_error(credentials, None, LoginRequired)
                return self._prompt_login(request)
        oauth = {k: credentials.get(k) or "" for k in OAUTH_FIELDS}
        include_granted = request.GET.get("include_granted_scopes", "").lower() == "true"
        memberships = _eligible_memberships(request, application)
        asked_slug = request.GET.get("tenant", "")
        membership = next((m for m in memberships if m.tenant.slug == asked_slug), None)
        tenant_decided = membership is not None or len(memberships) == 1
        if membership is None and memberships:
            membership = memberships[0]
        silent = "none" in prompt  # OpenID Connect Core 3.1.2.6: answer at once, never show a page
        if membership is None:
            if silent:
                return self._client_error(credentials, application, InteractionRequired)
            return self._render(request, application, memberships, None, None, scopes, oauth, include_granted)
        fresh = "consent" in prompt
        plan = consent_plan(application, membership, scopes, fresh=fresh)
        if plan.policy_refusal and silent:
            # The tenant's app policy refuses the app (scopes.tenant_policy): only the member can ask.
            return self._client_error(credentials, application, AccessDeniedError, plan.policy_refusal)
        albums = albums_for_page(album_request, membership, application, fresh=fresh)
        if (
            tenant_decided
            and not fresh
            and "select_account" not in prompt
            and not plan.needs_prompt
            and not albums.needs_prompt
        ):
            granted = _token_scopes(
                application, membership, plan.granted([]), include_granted=include_granted
            )
            token_albums = albums.token_albums(
                albums.remembered(), membership, application, include_granted=include_granted
            )
            return self._approve(request, application, oauth, membership, granted, albums=token_albums)
        if silent:
            refusal = ConsentRequired if tenant_decided else InteractionRequired
            return self._client_error(credentials, application, refusal)
        notice = (
            ""
            if not asked_slug or asked_slug == membership.tenant.slug
            else ("You cannot use this app in the organisation the app asked for; choose one of yours.")
        )
        shown = ShownPlan.of(plan, fresh=fresh, tenant_id=membership.tenant_id)
        return self._render(
            request,
            application,
            memberships,
            membership,
            plan,
            scopes,
            oauth,
            include_granted,
            shown=shown,
            notice=notice,
            albums=albums,
        )

    def _client_error(
        self,
        credentials: dict[str, Any],
        application: Application | None,
        error_class: type[OAuth2Error],
        description: str | None = None,
    ) -> HttpResponse:
        """An error for the client, sent to its (already validated) redirect URI with its state."""
        error = error_class(description=description, state=credentials.get("state") or None)
        return self.error_response(
            OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"]), application=application
        )

    def _prompt_login(self, request: HttpRequest) -> HttpResponse:
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
        return _to_sign_in(f"{request.path}?{query.urlencode()}", request.GET.get("login_hint", ""))

    def handle_no_permission(self) -> HttpResponse:
        """Not signed in: DOT's answer (prompt=none: login_required), with `login_hint` passed on."""
        response = super().handle_no_permission()
        hint = self.request.GET.get("login_hint", "")
        location = response.get("Location", "") if response.status_code == 302 else ""
        if hint and location.startswith(resolve_url(settings.LOGIN_URL)):
            response["Location"] = f"{location}&{urlencode({'login_hint': hint})}"
        return response

    def _render(
        self,
        request: HttpRequest,
        application: Application,
        memberships: list[Membership],
        membership: Membership | None,
        plan: ConsentPlan | None,
        scopes: list[str],
        oauth: dict[str, str],
        include_granted: bool,
        *,
        shown: ShownPlan | None = None,
        notice: str = "",
        status: int = 200,
        albums: AlbumsOnPage | None = None,
    ) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        nonces = request.session.get(SESSION_NONCES, [])[-19:]
        request.session[SESSION_NONCES] = [*nonces, nonce]
        payload = {
            "oauth": oauth,
            "scopes": scopes,
            "include_granted": include_granted,
            "uid": request.user.pk,
            "nonce": nonce,
            # The plan's identity: the POST plans the same way and grants nothing the page did not show.
            "plan": shown.to_payload() if shown is not None else None,
            "albums": albums.to_payload() if albums is not None else None,
        }
        context = page_context(
            request,
            application=application,
            memberships=memberships,
            membership=membership,
            plan=plan,
            request_token=signing.dumps(payload, salt=CONSENT_SALT, compress=True),
            albums=albums,
            switch_params=[(k, v) for k, v in request.GET.items() if k != "tenant"],
            notice=notice,
        )
        return render(request, self.template_name, context, status=status)

    # --- POST: re-derive everything on the server; the form contributes only ticks and a tenant

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        payload = read_signed_form(
            request.POST.get("request_token", ""), salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE
        )
        if payload is None:
            return self._refuse(
                request, "This consent form has expired or was changed. Go back to the app and start again."
            )
        nonces = request.session.get(SESSION_NONCES, [])
        # The session binds the form to this browser; the database makes it single-use, also
        # when two posts of it arrive at once (both would find the nonce in their session copy).
        if (
            payload.get("uid") != request.user.pk
            or payload.get("nonce") not in nonces
            or not consent_form_use(nonce=payload["nonce"], lifetime=CONSENT_MAX_AGE)
        ):
            return self._refuse(
                request, "This consent form was already used. Go back to the app and start again."
            )
        nonces.remove(payload["nonce"])
        request.session[SESSION_NONCES] = nonces
        oauth: dict[str, str] = payload["oauth"]
        application = Application.objects.filter(client_id=oauth["client_id"]).first()
        if application is None:
            return self._refuse(request, "This app no longer exists.")
        if request.POST.get("decision") != "allow":
            return self._deny(application, oauth)
        shown = ShownPlan.from_payload(payload.get("plan"))
        memberships = _eligible_memberships(request, application)
        membership = next((m for m in memberships if m.tenant.slug == request.POST.get("tenant")), None)
        if membership is None or shown is None or membership.tenant_id != shown.tenant_id:
            return self._refuse(request, "Choose one of your organisations for this app.")
        # Planned exactly as the page was (same mode, same tenant), then held to what it showed.
        plan = consent_plan(application, membership, payload["scopes"], fresh=shown.fresh)
        granted = plan.approval(request.POST.getlist("scope"), shown)
        if not granted:
            return self._deny(application, oauth)
        # Album lines re-derived as the page derived them; the form gives only ticks (scopes.consent.albums).
        albums = albums_from_form(payload.get("albums"), membership, application, fresh=shown.fresh)
        if albums is None:
            return self._refuse(
                request, "This consent form has expired or was changed. Go back to the app and start again."
            )
        granted_albums = albums.granted(request.POST.getlist("album"))
        if granted_albums is not None and not granted_albums:
            return self._deny(application, oauth)  # an album request with no album allowed
        # Until now the page read only the user's own rows; the writes go to the chosen tenant.
        tenancy.enter_tenant(membership.tenant_id)
        with transaction.atomic():
            consent = consent_grant(
                actor=signed_in(request.user),
                user=signed_in(request.user),
                tenant=membership.tenant,
                application=application,
                scopes=granted,
                withdraw=shown.withdrawn(granted),
            )
            albums.remember(consent, granted_albums, actor=signed_in(request.user))
        token_scopes = _token_scopes(
            application, membership, granted, include_granted=payload["include_granted"]
        )
        token_albums = albums.token_albums(
            granted_albums, membership, application, include_granted=payload["include_granted"]
        )
        return self._approve(request, application, oauth, membership, token_scopes, albums=token_albums)

    def _approve(
        self,
        request: HttpRequest,
        application: Application,
        oauth: dict[str, str],
        membership: Membership,
        scopes: list[str],
        *,
        albums: frozenset[int] | None = None,
    ) -> HttpResponse:
        credentials: dict[str, Any] = {k: v for k, v in oauth.items() if v}
        credentials["tenant_id"] = membership.tenant_id
        if albums is not None:
            credentials["album_ids"] = format_limit(albums)  # the code carries the album limit
        tenancy.enter_tenant(membership.tenant_id)  # the code is written in the chosen tenant
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def redirect(self, redirect_to: str, application: Application | None) -> OAuth2ResponseRedirect:
        """Every authorization response to the client leaves through here, so every one carries `iss`.

        RFC 9207: DOT adds `iss` to successful responses only; errors (`access_denied`,
        `invalid_scope`, `login_required`, `consent_required`, the tenant policy's refusal, PKCE
        and `authorization_details` errors) are built by DOT's mixin, DOT's `handle_no_permission`
        and our `_client_error`, and all of them, like success, end in this method. A strict client
        (oauth4webapi) refuses an error without `iss`, and mix-up protection must hold on the error
        path too. DOT's helper replaces any `iss` already present, so adding it twice is harmless.
        """
        if oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            redirect_to = _add_iss_to_redirect(
                redirect_to, oauth2_settings.oauth2_authorization_server_issuer(self.request)
            )
        return super().redirect(redirect_to, application)

    def _deny(self, application: Application, oauth: dict[str, str]) -> HttpResponse:
        error = OAuthToolkitError(
            error=AccessDeniedError(state=oauth.get("state") or None), redirect_uri=oauth["redirect_uri"]
        )
        return self.error_response(error, application)

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

    def _refuse(self, request: HttpRequest, message: str) -> HttpResponse:
        return render(request, "scopes/consent_error.html", {"message": message}, status=400)
