"""DRF authentication by OAuth 2.0 Bearer token (RFC 6750), loading the authorization context at once."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import User
from scopes.access.cache import load_context
from scopes.access.standing import AuthorizationContext
from scopes.api import bookkeeping
from scopes.machines.usage import is_personal

REALM = "api"


class InvalidToken(AuthenticationFailed):
    """A Bearer token was sent but cannot be used: malformed, unknown, expired, revoked."""

    default_code = "invalid_token"

    def __init__(self, problem: str) -> None:
        super().__init__(detail=f"The access token is not valid: {problem}.", code="invalid_token")
        self.problem = problem


class BearerTokenAuthentication(BaseAuthentication):
    """Reads `Authorization: Bearer <token>`; role, membership and grants are read with the token.

    Every request probes the database for the token's fingerprint (one statement, which also
    enters its tenant); the context comes from this process's cache when the fingerprint matches,
    else from one query (`scopes.access.cache`).

    No other scheme is accepted (no session, no query-string token): a request without a
    Bearer token is unauthenticated and gets `WWW-Authenticate: Bearer realm="api"`.
    """

    def authenticate(self, request: Request) -> tuple[User, AuthorizationContext] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, _, credentials = header.decode("latin-1").partition(" ")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
            raise InvalidToken("the Authorization header cannot be read") from exc
        if scheme.lower() != "bearer":
            return None
        credentials = credentials.strip()
        if len(credentials.split()) != 1:  # empty, or whitespace inside
            raise InvalidToken("the Authorization header must be 'Bearer <token>'")
        # The token's probe enters its tenant (PostgreSQL row-level security); the decision then
        # compares that tenant with the URL's.
        context = load_context(credentials)
        if context is None:
            raise InvalidToken("the token is unknown or has been revoked")
        problem = context.problem(timezone.now())
        if problem:
            raise InvalidToken(problem)
        assert context.user is not None
        # Its "last used", if it is a personal token, is written after the answer (scopes.api.bookkeeping).
        bookkeeping.token_accepted(request, personal_token=is_personal(credentials))
        # A new User per request, from the context's plain values (no query): nothing one request
        # sets on request.user reaches the next request of the token (scopes.access.standing).
        return context.user.instance(), context

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'
