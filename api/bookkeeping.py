"""After the answer: scope usage by day and a personal token's last use, from the request's decisions.

Authentication and the permission checks only decide, and put what they decided on the request:
authentication the token it accepted (`request.auth`, and whether it is a personal access token),
each decision the scope it allowed for this request (the collection check, and a reference's read
scope: an album named in input uses `albums.read`). Once the answer is final the base view calls
`record`, the one place that writes what was used:

- usage by day (`scopes.usage.recorder`) for the allowed scopes, only when the answer is a
  success (2xx or 3xx): a refused call (403, 404, 400) records nothing, so attacks and mistakes
  do not count as using a scope;
- a personal access token's "last used" (`scopes.machines.usage`) whenever the token was
  accepted, whatever the answer: the token was used, even for a call it was refused.

Neither writes on the request path: both note in memory, and the process's bookkeeping thread
writes the notes in batches every few seconds and at exit (accounts.background), so a request,
cold or warm, only reads. A note is never a right; a crash loses a few seconds of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework.request import Request
from rest_framework.response import Response

from scopes.access.standing import AuthorizationContext
from scopes.machines import usage as personal_token_usage
from scopes.usage import recorder

# The request attribute that carries the decisions to `record`.
_ATTRIBUTE = "scopes_bookkeeping"


@dataclass
class Decided:
    """What this request's authentication and decisions allowed; read once the answer is final."""

    personal_token: bool
    scopes: list[str] = field(default_factory=list)


def token_accepted(request: Request, *, personal_token: bool) -> None:
    """Authentication accepted the request's Bearer token (its context is `request.auth`)."""
    setattr(request, _ATTRIBUTE, Decided(personal_token=personal_token))


def personal_token_used(request: Request) -> bool:
    """Whether authentication accepted a personal access token for this request (its refusals say
    how to get the scope: a new token, not an authorization request)."""
    decided = _decided(request)
    return decided is not None and decided.personal_token


def scope_allowed(request: Request, scope: str) -> None:
    """A decision allowed `scope` for this request: a use of it if the answer succeeds."""
    decided = _decided(request)
    if decided is not None:
        decided.scopes.append(scope)


def record(request: Request, response: Response) -> None:
    """The answer is final: write what the request used (see the module's docstring)."""
    decided = _decided(request)
    context = getattr(request, "_auth", None)  # as authentication left it: never authenticates here
    if decided is None or not isinstance(context, AuthorizationContext):
        return
    if decided.personal_token:
        personal_token_usage.note_use(context.token_id, tenant_id=context.tenant.pk)
    if response.status_code >= 400 or not decided.scopes:
        return
    if context.user is None or context.application_id is None:
        return
    recorder.note_grant_use(
        tenant_id=context.tenant.pk,
        application_id=context.application_id,
        user_id=context.user.pk,
        scopes=dict.fromkeys(decided.scopes),  # each scope once, in the order it was allowed
    )


def _decided(request: Request) -> Decided | None:
    # Only the request's own attribute: DRF's Request would look a missing one up on the
    # HttpRequest it wraps, which never carries it.
    found = vars(request).get(_ATTRIBUTE)
    return found if isinstance(found, Decided) else None
