"""The consent page, `/o/authorize/`: line-item consent, capped by the app, the tenant's policy,
the role and the user's ticks.

DOT does the OAuth (request validation, codes, PKCE, tokens). This view parses the request
(`AuthorizeRequest`), reads its situation once (`situation_of`), asks the pure decision
(`on_get`, `on_post`: scopes.consent.outcome) and answers; it never trusts the consent form for
more than the user's ticks (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2 import AccessDeniedError

from accounts import authn, tenancy
from accounts.models import Membership, signed_in
from scopes.access.albums import format_limit
from scopes.access.audience import parse_resource
from scopes.access.scope_registry import registry_held
from scopes.consent.album_pages import albums_from_form
from scopes.consent.answers import Answers
from scopes.consent.authorize import (
    CONSENT_SALT,  # noqa: F401 (tests sign forms with it)
    InvalidTarget,
    requested_resource,
)
from scopes.consent.flow import AuthorizeRequest, situation_of
from scopes.consent.forms import claim_form, page_form
from scopes.consent.outcome import (
    Approve,
    ClientError,
    Deny,
    Grant,
    ShowPage,
    SignInAgain,
    StepUp,
    approved,
    on_get,
    on_post,
    step_up_needed,
)
from scopes.consent.rules import ShownPlan
from scopes.consent.services import consent_grant
from scopes.models import Application

STEP_UP_EXPIRED = (
    "What you chose needs a recent sign-in with a second factor, and yours is too old now. "
    "Go back to the app and start again."
)


@method_decorator(never_cache, name="dispatch")
class ConsentView(Answers, AuthorizationView):
    """`/o/authorize/`: line-item consent, capped by the app, the tenant role and the user's ticks."""

    template_name = "scopes/authorize.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with registry_held():  # one registry read for the whole request, DOT's validation included
            return self._get(request)

    def _get(self, request: HttpRequest) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        req = AuthorizeRequest.from_query(request.GET, scopes, credentials)
        application = Application.objects.get(client_id=req.client_id)
        resource, problem = requested_resource(
            request.GET, issuer=self.issuer(request), tenant_slug=req.tenant_slug
        )
        if problem:
            return self.client_error(req.oauth, application, ClientError(InvalidTarget, problem))
        if resource is not None:
            # The code carries it (signed into the page's form); a tenant's API picks the tenant.
            req = replace(
                req,
                oauth={**req.oauth, "resource": resource.identifier(self.issuer(request))},
                tenant_slug=resource.tenant_slug or req.tenant_slug,
            )
        situation = situation_of(
            signed_in(request.user),
            application,
            tenant_slug=req.tenant_slug,
            details=req.details,
            sign_in=authn.of_session(request.session),
        )
        unusable = self.resource_problem(request, req.oauth, situation.membership)
        if unusable:  # a tenant's API in a tenant the user cannot grant in: nothing to show or grant
            return self.client_error(req.oauth, application, ClientError(InvalidTarget, unusable))
        match on_get(req, situation, now=timezone.now()):
            case ClientError() as refusal:
                return self.client_error(req.oauth, application, refusal)
            case SignInAgain():
                return self.sign_in_again(request)
            case StepUp():
                return self.step_up(request)
            case ShowPage() as page:
                context = page_form(request, req, situation, page)
                if resource is not None:
                    tenant = situation.membership.tenant if situation.membership is not None else None
                    context.update(
                        resource_uri=req.oauth["resource"],
                        resource_label=resource.label(tenant.name if tenant is not None else None),
                        resource_tenant=resource.tenant_slug,
                    )
                return render(request, self.template_name, context)
            case Approve() as approve:
                return self._approve(request, req.oauth, application, approve)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- POST: re-derive everything on the server; the form contributes only ticks and a tenant

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        payload = claim_form(request)
        if isinstance(payload, str):
            return self.refuse(request, payload)
        oauth: dict[str, str] = payload["oauth"]
        with registry_held():
            application = Application.objects.filter(client_id=oauth["client_id"]).first()
            if application is None:
                return self.refuse(request, "This app no longer exists.")
            if request.POST.get("decision") != "allow":
                return self.client_error(oauth, application, ClientError(AccessDeniedError))
            albums = albums_from_form(payload.get("albums"))
            situation = situation_of(
                signed_in(request.user),
                application,
                tenant_slug=request.POST.get("tenant", ""),
                album_request=albums.request if albums is not None else None,
                sign_in=authn.of_session(request.session),
            )
            answer = on_post(
                situation,
                requested=payload["scopes"],
                shown=ShownPlan.from_payload(payload.get("plan")),
                albums_shown=albums,
                tenant_slug=request.POST.get("tenant", ""),
                ticked=request.POST.getlist("scope"),
                ticked_albums=request.POST.getlist("album"),
            )
            if isinstance(answer, Deny):
                return self.client_error(oauth, application, ClientError(AccessDeniedError))
            if not isinstance(answer, Grant):
                return self.refuse(request, answer.message)
            problem = self.resource_problem(request, oauth, answer.membership)
            if problem:  # before anything is written (a form naming another tenant than the resource)
                return self.client_error(oauth, application, ClientError(InvalidTarget, problem))
            if step_up_needed(situation, answer.scopes, now=timezone.now()) is not None:
                # The page was shown after a step-up that has since grown too old: never a code
                # carrying a sign-in weaker than its scopes need.
                return self.refuse(request, STEP_UP_EXPIRED)
            with transaction.atomic():
                user = signed_in(request.user)
                consent = consent_grant(
                    actor=user,
                    user=user,
                    tenant=answer.membership.tenant,
                    application=application,
                    scopes=answer.scopes,
                    withdraw=answer.withdraw,
                )
                answer.albums.remember(consent, answer.granted_albums, actor=user)
            approve = approved(
                situation, answer, consent_id=consent.pk, include_granted=payload["include_granted"]
            )
            return self._approve(request, oauth, application, approve)

    def resource_problem(
        self, request: HttpRequest, oauth: Mapping[str, str], membership: Membership | None
    ) -> str | None:
        """Why the request's resource (RFC 8707) cannot be granted in `membership`'s tenant, or None.

        A tenant's API must be the chosen tenant's: the token could be used nowhere else. Asked
        when the page is shown, before the form's answer is written, and when the code is issued.
        """
        value = oauth.get("resource")
        if not value:
            return None
        found = parse_resource(value, self.issuer(request))
        if found is None:
            return "resource is not one of this server's protected resources."
        if found.tenant_slug is not None and (
            membership is None or membership.tenant.slug != found.tenant_slug
        ):
            return "the user cannot grant access to that resource's organisation."
        return None

    def _approve(
        self, request: HttpRequest, oauth: Mapping[str, str], application: Application, approve: Approve
    ) -> HttpResponse:
        """Issue the code in the member's tenant, carrying the tenant and the album limit."""
        credentials: dict[str, Any] = {k: v for k, v in oauth.items() if v}
        credentials["tenant_id"] = approve.membership.tenant_id
        if oauth.get("resource"):
            # RFC 8707: the code, and every token from it, is for this resource only.
            problem = self.resource_problem(request, oauth, approve.membership)
            if problem:
                return self.client_error(oauth, application, ClientError(InvalidTarget, problem))
            credentials["resource"] = [oauth["resource"]]
        credentials["sign_in"] = authn.of_session(request.session)  # the code and its tokens remember it
        if approve.albums is not None:
            credentials["album_ids"] = format_limit(approve.albums)  # the code carries the album limit
        tenancy.enter_tenant(approve.membership.tenant_id)  # the code is written in the chosen tenant
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(approve.scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)
