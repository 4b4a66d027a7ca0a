"""RFC 7591 dynamic client registration: the older way a client registers itself.

`POST /o/register/` with the client's metadata as JSON registers a public, authorization-code
app and answers its `client_id` (201). The metadata is held to the rules a client ID metadata
document is held to (`client_documents.metadata_problem`), except that nothing names the client's
site, so a redirect URI may be on any https host (or loopback). Each registration counts against
the requesting address (`RATE_LIMITS["dcr-registration-ip"]`).

Registering is not being allowed in: an app registered this way is refused in every tenant that
has not allowed dynamically registered apps (`TenantAppPolicy.dynamic_clients`, off by default;
`scopes.access.policy.AppPolicy.dynamic_refused`) unless its administrators approved that app,
and everything else an app meets (approved apps only, blocks, caps, consent, role) applies as for
any app. `cleartokens` deletes registrations nobody used.

Why not DOT's `DynamicClientRegistrationView`: it issues an RFC 7592 registration access token as
an access token with no tenant, which our tenant-keyed token table (row-level security) cannot
hold, and its permission hook runs before any tenant is known. No registration access token is
issued here, so RFC 7592 (reading, updating, deleting a registration) is not offered.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from accounts import ratelimit
from accounts.constants import AuditAction
from accounts.services import audit_record
from accounts.untrusted import UntrustedInput, loads_bounded
from scopes.models import Application, Scope
from scopes.oauth.client_documents import declared_scopes, metadata_problem
from scopes.services import AllowedScope, application_scopes_set

MAX_BODY = 16 * 1024


class RegistrationRefused(ValueError):
    """Metadata a self-registered client may not have; `error` is RFC 7591's code."""

    def __init__(self, description: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(description)
        self.error = error


@transaction.atomic
def register_client(document: dict[str, Any]) -> Application:
    """Register a public authorization-code app from RFC 7591 metadata, with the scopes it may ask
    for (its `scope` within `SELF_REGISTERED_CLIENT_SCOPES`). Audited, with no actor."""
    problem = metadata_problem(document, home=None)
    if problem:
        raise RegistrationRefused(
            problem, "invalid_redirect_uri" if problem.startswith("every redirect_uri") else ""
        )
    application = Application(
        name=document["client_name"].strip(),
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(document["redirect_uris"]),
        registration_source=Application.RegistrationSource.DCR,
    )
    try:
        application.full_clean(exclude=["client_secret"])
    except ValidationError as error:
        raise RegistrationRefused(" ".join(error.messages)) from None
    application.save()
    wanted = Scope.objects.filter(name__in=declared_scopes(document)).order_by("name")
    application_scopes_set(
        actor=None, application=application, allowed=[AllowedScope(scope=scope) for scope in wanted]
    )
    audit_record(
        actor=None,
        action=AuditAction.APPLICATION_CREATED,
        target=application,
        after={"registration_source": "dcr", "name": application.name, "client_id": application.client_id},
    )
    return application


def _answer(body: dict[str, Any], status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _refusal(error: str, description: str) -> JsonResponse:
    return _answer({"error": error or "invalid_client_metadata", "error_description": description}, 400)


@method_decorator(csrf_exempt, name="dispatch")
class DynamicRegistrationView(View):
    """`POST /o/register/`: RFC 7591 section 3. Nothing is written when anything is refused."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if not settings.DYNAMIC_REGISTRATION_ENABLED:
            return _answer({"error": "not_found"}, 404)
        limits = [("dcr-registration-ip", ratelimit.client_address(request))]
        wait = ratelimit.retry_after(limits)
        if wait is not None:
            return ratelimit.refused(
                _answer(
                    {"error": "temporarily_unavailable", "error_description": "Too many registrations."}, 429
                ),
                wait,
            )
        ratelimit.record_attempt(limits)
        if request.content_type != "application/json":
            return _refusal("invalid_client_metadata", "The metadata must be sent as application/json.")
        try:
            document = loads_bounded(request.body, max_size=MAX_BODY)
        except UntrustedInput as error:
            return _refusal("invalid_client_metadata", str(error))
        if not isinstance(document, dict):
            return _refusal("invalid_client_metadata", "The metadata must be a JSON object.")
        try:
            application = register_client(document)
        except RegistrationRefused as refused:
            return _refusal(refused.error, str(refused))
        return _answer(
            {
                "client_id": application.client_id,
                "client_id_issued_at": int(application.created.timestamp()),
                "client_name": application.name,
                "redirect_uris": application.redirect_uris.split(),
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": " ".join(sorted(application.allowed_scopes.values_list("name", flat=True))),
            },
            201,
        )
