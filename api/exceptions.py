"""Every API refusal as the decision's table says (docs/architecture.md, "One API request"): status, `WWW-Authenticate`, and a JSON body that says why."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from api import bookkeeping
from api.authentication import REALM, InvalidToken
from api.parsers import RequestTooLarge
from api.resource_metadata import metadata_url
from scopes.access.challenges import insufficient_scope_challenge
from scopes.access.decision import Decision, Reason

NOT_FOUND_BODY = {"error": "not_found", "reason": "not_found", "detail": "Not found."}


class AccessRefused(exceptions.APIException):
    """The decision function said no; the response is built from the decision alone."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(detail=decision.detail, code=str(decision.reason))
        self.status_code = decision.status
        self.decision = decision


def not_found_response() -> Response:
    """The one 404: identical for a missing id, another tenant's id and a tenant you cannot use."""
    return Response(dict(NOT_FOUND_BODY), status=status.HTTP_404_NOT_FOUND)


def refusal_response(
    decision: Decision, *, request_access: str | None = None, personal_token: bool = False
) -> Response:
    """Turn a refusal into its answer; 404s deliberately carry nothing that tells them apart.

    A `role_forbids` answer carries `request_access` when known: the page where the signed-in
    user asks the tenant's administrators for the right (scopes.tenant_policy).
    """
    if decision.status == status.HTTP_404_NOT_FOUND:
        return not_found_response()
    if decision.reason == Reason.INVALID_TOKEN:
        return invalid_token_response(decision.detail)
    if decision.reason == Reason.WRONG_RESOURCE:
        # RFC 8707: a token bound to another resource is not a token here. The client asks for
        # one with `resource` set to this resource's identifier (its metadata's `resource`).
        return invalid_token_response(decision.detail, reason=str(decision.reason))
    if decision.reason == Reason.INSUFFICIENT_USER_AUTHENTICATION:
        return step_up_response(decision)
    body = {
        "error": "insufficient_scope" if decision.reason == Reason.SCOPE_MISSING else "forbidden",
        "reason": str(decision.reason),
        "detail": decision.detail,
        "required_scopes": list(decision.required_scopes),
        "granted_scopes": list(decision.granted_scopes),
    }
    if decision.reason == Reason.ROLE_FORBIDS and request_access:
        body["request_access"] = request_access
    response = Response(body, status=decision.status)
    if decision.reason == Reason.SCOPE_MISSING:
        response["WWW-Authenticate"] = insufficient_scope_challenge(
            decision.required_scopes, realm=REALM, personal_token=personal_token
        )
    return response


def step_up_response(decision: Decision) -> Response:
    """401 with RFC 9470's challenge: the token's sign-in is too weak or too old for this call.

    The client sends its user back through authorization with the `acr_values` and `max_age` of
    the challenge (also in the body), and gets a token that passes.
    """
    requirement = decision.step_up
    body: dict[str, Any] = {
        "error": str(Reason.INSUFFICIENT_USER_AUTHENTICATION),
        "reason": str(Reason.INSUFFICIENT_USER_AUTHENTICATION),
        "detail": decision.detail,
        "required_scopes": list(decision.required_scopes),
        "granted_scopes": list(decision.granted_scopes),
    }
    challenge = f'Bearer realm="{REALM}", error="insufficient_user_authentication"'
    challenge += ', error_description="A stronger or more recent sign-in is required"'
    if requirement is not None and requirement.acr:
        body["acr_values"] = requirement.acr
        challenge += f', acr_values="{requirement.acr}"'
    if requirement is not None and requirement.max_age is not None:
        body["max_age"] = requirement.max_age
        challenge += f', max_age="{requirement.max_age}"'
    response = Response(body, status=status.HTTP_401_UNAUTHORIZED)
    response["WWW-Authenticate"] = challenge
    return response


def _request_access(decision: Decision, context: dict[str, Any]) -> str | None:
    """For `role_forbids`: the absolute URL where the user files a request for the missing scopes."""
    if decision.reason != Reason.ROLE_FORBIDS:
        return None
    view = context.get("view")
    request = context.get("request")
    slug = getattr(view, "kwargs", {}).get("tenant_slug") if view is not None else None
    if request is None or not slug:
        return None
    query = urlencode(
        [("tenant", slug), ("kind", "scope"), *(("scope", s) for s in decision.required_scopes)]
    )
    return str(request.build_absolute_uri(f"{reverse('account-request-new')}?{query}"))


def invalid_token_response(detail: str, *, reason: str = "invalid_token") -> Response:
    """401 for a token that was sent but cannot be used (RFC 6750 section 3.1): unknown, expired,
    revoked (`invalid_token`), or bound to another resource (`wrong_resource`)."""
    response = Response(
        {"error": "invalid_token", "reason": reason, "detail": detail},
        status=status.HTTP_401_UNAUTHORIZED,
    )
    response["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="invalid_token"'
    return response


def _first_error(detail: Any) -> tuple[str, str]:
    """The first (code, message) in a DRF error structure, for the top-level `reason`/`detail`."""
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_error(value)
    if isinstance(detail, list) and detail:
        return _first_error(detail[0])
    if isinstance(detail, exceptions.ErrorDetail):
        return str(detail.code or "invalid"), str(detail)
    return "invalid", str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler for the API: stable `error`/`reason`/`detail` bodies everywhere.

    Every 401 and 403 also names, in its `WWW-Authenticate`, the metadata document of the resource
    it refused (RFC 9728 section 5.1: api.resource_metadata), beside what the challenge says.
    """
    response = _answer(exc, context)
    request = context.get("request")
    if response is not None and response.status_code in (401, 403) and request is not None:
        url = metadata_url(request)
        if url is not None:
            challenge = response.get("WWW-Authenticate") or f'Bearer realm="{REALM}"'
            response["WWW-Authenticate"] = f'{challenge}, resource_metadata="{url}"'
    return response


def _answer(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, AccessRefused):
        request = context.get("request")
        return refusal_response(
            exc.decision,
            request_access=_request_access(exc.decision, context),
            personal_token=request is not None and bookkeeping.personal_token_used(request),
        )
    if isinstance(exc, InvalidToken):
        return invalid_token_response(str(exc.detail))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # No credentials at all: RFC 6750 section 3 says no error code in the challenge.
        response = Response(
            {
                "error": "unauthorized",
                "reason": "token_missing",
                "detail": "This API needs an OAuth 2.0 access token: send 'Authorization: Bearer <token>'.",
            },
            status=status.HTTP_401_UNAUTHORIZED,
        )
        response["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
        return response
    if isinstance(exc, Http404 | exceptions.NotFound):
        return not_found_response()
    if isinstance(exc, RequestTooLarge | RequestDataTooBig):
        # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) would otherwise be an HTML 400 page.
        detail = str(exc.detail) if isinstance(exc, RequestTooLarge) else RequestTooLarge.default_detail
        return Response(
            {"error": "invalid_request", "reason": "too_large", "detail": detail},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response(
            {"error": "invalid_request", "reason": "too_many_fields", "detail": str(exc)},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.ValidationError):
        reason, detail = _first_error(exc.detail)
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            {"error": "invalid_request", "reason": reason, "detail": detail, "fields": fields},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = exception_handler(exc, context)
    if handled is not None and isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        reason = codes if isinstance(codes, str) else "error"
        handled.data = {"error": reason, "reason": reason, "detail": str(exc.detail)}
    return handled
