"""One limit per client secret: every endpoint that checks one counts its failures together.

The token endpoint, introspection and revocation all authenticate a client through DOT's
`authenticate_client`: HTTP Basic first, and when that fails for any reason (another client's id,
the scheme spelled `basic`, base64 it cannot read) the `client_id` and `client_secret` parameters
of the body or the query string. So one request can name several clients, and the secret checked
may be any of theirs. `client_limits` names every one of them; `limit_client_authentication` wraps
each endpoint's `post`, so a client's guesses are counted in one bucket whichever endpoint, header
or parameter they came through: refused with 429 while any named client (or the address) is over
its limit, and a failed answer charged to all of them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts import ratelimit

# The answers that may mean "wrong secret" (401 invalid_client) or a failed grant (400). Counting
# both keeps the token endpoint's old rule; introspection and revocation answer the same codes.
FAILED = frozenset({400, 401})


def _basic_client_id(request: HttpRequest) -> str | None:
    """The client id in an HTTP Basic header, decoded as leniently as DOT decodes it.

    DOT's base64 decoding skips characters outside the alphabet, so a strict decoder would read
    nothing where DOT reads a client id. The scheme is matched in any case (DOT only honours
    `Basic`, but counting one more name is harmless; missing one is a bypass).
    """
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None  # DOT cannot read it either, and falls back to the body
    return unquote_plus(decoded.partition(":")[0])


def presented_client_ids(request: HttpRequest) -> list[str]:
    """Every client id the request names: HTTP Basic's user part, and each `client_id` parameter."""
    names = [_basic_client_id(request), *request.POST.getlist("client_id"), *request.GET.getlist("client_id")]
    return sorted({name for name in names if name})


def presents_a_secret(request: HttpRequest) -> bool:
    """Does the request try to authenticate a client (any Authorization header, or `client_secret`)?"""
    return (
        "HTTP_AUTHORIZATION" in request.META
        or "client_secret" in request.POST
        or "client_secret" in request.GET
    )


def client_limits(request: HttpRequest) -> list[ratelimit.Limit]:
    """Failures count per address, and per client id for every client named when a secret is tried.

    The per-client count protects a confidential client's secret from guessing spread over many
    addresses. A public client has no secret to guess (codes and refresh tokens are unguessable),
    and its id is public: counting its failures per id would let anyone lock every user of that
    app out for a window. So requests that try no secret count per address only, and a request
    that does try one is held back by, and charged to, every client it names.
    """
    limits: list[ratelimit.Limit] = [("token-ip", ratelimit.client_address(request))]
    if presents_a_secret(request):
        limits = [("token-client", client_id) for client_id in presented_client_ids(request)] + limits
    return limits


def client_credentials_issues(request: HttpRequest) -> list[ratelimit.Limit]:
    """What a client-credentials answer is charged to: tokens issued per client id it names.

    Each such answer writes a token row on the client's word alone, so the tokens issued count per
    client (RATE_LIMITS["token-issue-client"]); other grants issue against a user's code or refresh
    token and count nothing here.
    """
    if request.POST.get("grant_type", "") != "client_credentials":
        return []
    return [("token-issue-client", client_id) for client_id in presented_client_ids(request)]


def too_many(wait: int, what: str = "Too many failed client requests") -> JsonResponse:
    """The refusal while a limit holds: nothing in the request is looked at."""
    response = JsonResponse(
        {"error": "temporarily_unavailable", "error_description": f"{what}; retry after {wait} seconds."},
        status=429,
    )
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


def limit_client_authentication(post: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an endpoint's `post` (with `method_decorator`): limit checked before, failure charged after."""
    return _limited(post, issues=None)


def limit_client_authentication_and_issues(
    issues: Callable[[HttpRequest], list[ratelimit.Limit]],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """`limit_client_authentication`, and limits on what a successful answer issues.

    `issues(request)` names the limits a 200 answer is charged to (the token endpoint: tokens issued
    per client by the client-credentials grant, which writes a token row on the client's word
    alone). They are read with the failure limits, in the same cache round trip, and charged only
    after a 200: only issued tokens count, so nobody without the secret can use up a client's
    allowance.
    """

    def wrap(post: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return _limited(post, issues=issues)

    return wrap


def _limited(
    post: Callable[..., HttpResponse], *, issues: Callable[[HttpRequest], list[ratelimit.Limit]] | None
) -> Callable[..., HttpResponse]:
    @wraps(post)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limits = client_limits(request)
        issued = issues(request) if issues is not None else []
        waits = ratelimit.exhausted(limits + issued)
        failed_waits = [waits[limit] for limit in limits if limit in waits]
        if failed_waits:
            return too_many(max(failed_waits))
        if waits:
            return too_many(max(waits.values()), "Too many tokens issued to this client")
        response = post(request, *args, **kwargs)
        # A device grant's polling answers (authorization_pending, ...) are no failed guess.
        if response.status_code in FAILED and not getattr(response, "polling_answer", False):
            ratelimit.record_failure(limits)
        elif response.status_code == 200 and issued:
            ratelimit.record_attempt(issued)
        return response

    return limited
