"""Browser pages of consent: the consent page (`/o/authorize/`) and connected apps (`/account/apps/`).

DOT does the OAuth (request validation, codes, PKCE, tokens); these views decide what the user
is asked and what is granted, and never trust the consent form for more than the user's ticks.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2 import AccessDeniedError, InvalidRequestError
from oauthlib.oauth2.rfc6749.errors import (
    ConsentRequired,
    CustomOAuth2Error,
    InvalidClientIdError,
    InvalidRedirectURIError,
    MismatchingRedirectURIError,
    MissingClientIdError,
    MissingRedirectURIError,
    OAuth2Error,
)

from accounts import tenancy
from accounts.models import Membership, signed_in
from accounts.selectors import active_memberships_of
from scopes.access.selectors import registry
from scopes.access.standing import consent_standing, consent_standings_of
from scopes.consent.rules import ConsentPlan, ShownPlan
from scopes.consent.selectors import consent_plan, consents_of
from scopes.consent.services import consent_form_use, consent_grant, consent_narrow, consent_revoke
from scopes.models import Application, Consent
from scopes.registry import closure, normalise

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CONSENT_SALT = "scopes.consent-form"
CONSENT_MAX_AGE = 15 * 60
SESSION_NONCES = "consent_nonces"
# OpenID Connect Core 3.1.2.1, and Prompt Create 1.0 (a no-op for a signed-in user; DOT answers
# it for one who is not). select_account shows the page, where the organisation is chosen.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account", "create"})
# Our own authorization parameters, which oauthlib's duplicate check does not know.
SINGLE_VALUED = ("prompt", "tenant", "include_granted_scopes", "max_age", "login_hint")
OAUTH_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
)


class InteractionRequired(CustomOAuth2Error):
    """OpenID Connect Core 3.1.2.6: the request needs the user (here: to choose an organisation)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("interaction_required", **kwargs)


def _eligible_memberships(request: HttpRequest, application: Application) -> list[Membership]:
    """Active tenants the user belongs to and the app may be used in."""
    memberships = list(active_memberships_of(signed_in(request.user)))
    if application.tenant_id is not None:
        memberships = [m for m in memberships if m.tenant_id == application.tenant_id]
    return memberships


def _token_scopes(
    application: Application, membership: Membership, granted: list[str], *, include_granted: bool
) -> list[str]:
    """The new token's scopes: what was granted now, plus (incrementally) what was granted before."""
    implications = registry().implications
    scopes = set(granted)
    if include_granted:
        # What the remembered consent still allows (consent ∩ app ∩ role, today): the one standing.
        standing = consent_standing(
            user_id=membership.user_id, tenant_id=membership.tenant_id, application_id=application.pk
        )
        if standing is not None and standing.stands:
            scopes |= set(standing.effective)
    return normalise(scopes, implications)


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
        if "login" in prompt:
            return self._prompt_login(request)
        application = Application.objects.get(client_id=credentials["client_id"])
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
        if tenant_decided and not fresh and "select_account" not in prompt and not plan.needs_prompt:
            granted = _token_scopes(
                application, membership, plan.granted([]), include_granted=include_granted
            )
            return self._approve(request, application, oauth, membership, granted)
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
        """prompt=login: the user signs in again, then the request continues without the prompt.

        Our sign-in page sends a signed-in user straight on, so asking it would authenticate
        nobody: the session is ended first (what OpenID Connect's "reauthenticate" asks for).
        """
        logout(request)
        return self.handle_prompt_login()

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
        }
        descriptions = registry().descriptions
        context = {
            "application": application,
            "memberships": memberships,
            "membership": membership,
            "plan": plan,
            "already_granted": [(n, descriptions.get(n, n)) for n in (plan.already_granted if plan else [])],
            "request_token": signing.dumps(payload, salt=CONSENT_SALT, compress=True),
            "switch_params": [(k, v) for k, v in request.GET.items() if k != "tenant"],
            "notice": notice,
        }
        return render(request, self.template_name, context, status=status)

    # --- POST: re-derive everything on the server; the form contributes only ticks and a tenant

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            payload = signing.loads(
                request.POST.get("request_token", ""), salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE
            )
        except signing.BadSignature:
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
        granted = plan.granted_as_shown(request.POST.getlist("scope"), shown)
        if plan.blocked_required or not granted:
            return self._deny(application, oauth)
        # Until now the page read only the user's own rows; the writes go to the chosen tenant.
        tenancy.enter_tenant(membership.tenant_id)
        consent_grant(
            actor=request.user,
            user=request.user,
            tenant=membership.tenant,
            application=application,
            scopes=granted,
            withdraw=shown.withdrawn(granted),
        )
        token_scopes = _token_scopes(
            application, membership, granted, include_granted=payload["include_granted"]
        )
        return self._approve(request, application, oauth, membership, token_scopes)

    def _approve(
        self,
        request: HttpRequest,
        application: Application,
        oauth: dict[str, str],
        membership: Membership,
        scopes: list[str],
    ) -> HttpResponse:
        credentials: dict[str, Any] = {k: v for k, v in oauth.items() if v}
        credentials["tenant_id"] = membership.tenant_id
        tenancy.enter_tenant(membership.tenant_id)  # the code is written in the chosen tenant
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

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


@login_required
@never_cache
def connected_apps(request: HttpRequest) -> HttpResponse:
    """`/account/apps/`: what the user granted, per tenant, with revoke and remove-scope buttons.

    Each grant is shown as it stands now (`scopes.access.standing`): a scope the user's role or the app
    no longer allows is listed as not in effect, so the page never claims more than the API allows.
    """
    snapshot = registry()
    descriptions, implications = snapshot.descriptions, snapshot.implications
    user = signed_in(request.user)
    standings = consent_standings_of(user.pk)  # every grant in one query, not one per row
    rows = []
    for consent in consents_of(user):
        names = [s.name for s in consent.scopes.all()]
        standing = standings.get((consent.tenant_id, consent.application_id))
        in_effect = closure(standing.effective, implications) if standing and standing.stands else frozenset()
        rows.append(
            {
                "consent": consent,
                "scopes": [
                    (name, descriptions.get(name, name), _in_effect(name, in_effect, implications))
                    for name in sorted(names)
                ],
                "stands": bool(standing and standing.stands),
                "problem": standing.detail if standing and not standing.stands else "",
            }
        )
    return render(request, "scopes/connected_apps.html", {"rows": rows})


def _in_effect(name: str, in_effect: frozenset[str], implications: Any) -> str:
    """`all`, `part` (a composite some of whose parts still apply) or `none`."""
    if name in in_effect:
        return "all"
    return "part" if closure([name], implications) & in_effect else "none"


def _own_consent(request: HttpRequest, consent_id: int) -> Consent:
    # Someone else's consent is "not found", exactly like a missing one.
    return get_object_or_404(
        Consent.objects.select_related("tenant", "application"), pk=consent_id, user=request.user
    )


@login_required
@require_POST
def consent_revoke_view(request: HttpRequest, consent_id: int) -> HttpResponse:
    consent = _own_consent(request, consent_id)
    tenancy.enter_tenant(consent.tenant_id)  # its tokens are revoked in the consent's tenant
    consent_revoke(actor=signed_in(request.user), consent=consent)
    return redirect("account-apps")


@login_required
@require_POST
def consent_remove_scopes_view(request: HttpRequest, consent_id: int) -> HttpResponse:
    consent = _own_consent(request, consent_id)
    tenancy.enter_tenant(consent.tenant_id)
    remove = [name for name in request.POST.getlist("scope") if name]
    if remove:
        consent_narrow(actor=signed_in(request.user), consent=consent, remove=remove)
    return redirect("account-apps")
