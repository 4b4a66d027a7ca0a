"""The access decision (docs/architecture.md, "One API request"): one pure function every caller asks.

No HTTP and no database: inputs are plain data, so the API, the list filter, the consent page and
an admin "explain" page can never disagree. The steps run in order (token, resource, tenant, scope, role,
sign-in, album, object) and the first failing step decides the answer; the trace records every
step taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from accounts.authn import NO_SIGN_IN, Requirement, SignIn, shortfall
from accounts.authn import NONE as NO_REQUIREMENT
from scopes.access.audience import resource_problem
from scopes.constants import Reach
from scopes.registry import Implications, closure, grant_reaches, implied_by, normalise, wider_reach


class Step(StrEnum):
    """The checks, in the order they run."""

    TOKEN = "token"
    RESOURCE = "resource"
    TENANT = "tenant"
    SCOPE = "scope"
    ROLE = "role"
    SIGN_IN = "sign_in"
    ALBUM = "album"
    OBJECT = "object"


class Reason(StrEnum):
    """Stable machine codes for why a request was refused."""

    INVALID_TOKEN = "invalid_token"
    WRONG_RESOURCE = "wrong_resource"
    TENANT_NOT_FOUND = "tenant_not_found"
    SCOPE_MISSING = "scope_missing"
    ROLE_FORBIDS = "role_forbids"
    NOT_FOUND = "not_found"
    NOT_OWNER = "not_owner"
    RESOURCE_NOT_GRANTED = "resource_not_granted"
    # RFC 9470: the token's sign-in is too weak or too old for this call (step up and come back).
    INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"


@dataclass(frozen=True)
class Target:
    """What the decision needs to know about one object: does it exist here, and whose is it."""

    exists_in_tenant: bool
    owner_is_user: bool = False
    # The album the object is in (a photo) or is (an album); None: in no album.
    album_id: int | None = None
    # True when the request puts an object into `album_id` (an upload, a move, a new album):
    # an album limit then refuses with `resource_not_granted` rather than hiding the object.
    placing: bool = False


@dataclass(frozen=True)
class TraceStep:
    """One step of the decision, for people reading why."""

    step: Step
    passed: bool
    note: str


@dataclass(frozen=True)
class Decision:
    """The answer: allowed or not, the HTTP status and reason code, and the steps that led there."""

    allowed: bool
    status: int
    reason: Reason | None
    detail: str
    required_scopes: tuple[str, ...]
    granted_scopes: tuple[str, ...]
    # The reach the action runs under (None when the role has no grant for it).
    reach: str | None = None
    # The reach that decides which objects the caller may see at all (list filter, 404s).
    visible_reach: str | None = None
    trace: tuple[TraceStep, ...] = field(default_factory=tuple)
    # For `insufficient_user_authentication`: what the sign-in must be (RFC 9470's `acr_values`,
    # `max_age`), for the challenge and the body.
    step_up: Requirement | None = None


def accepted_scopes(action_scope: str, implications: Implications) -> list[str]:
    """Every scope that would satisfy `action_scope`: itself and everything that implies it."""
    return implied_by(action_scope, implications)


def decide(
    *,
    action_scope: str,
    token_scopes: Iterable[str],
    role_grants: Iterable[tuple[str, str]],
    implications: Implications,
    read_scope: str | None = None,
    token_problem: str | None = None,
    tenant_problem: str | None = None,
    role_name: str | None = None,
    tenant_name: str | None = None,
    target: Target | None = None,
    albums: frozenset[int] | None = None,
    audience: tuple[str, ...] = (),
    resource: str | None = None,
    sign_in: SignIn | None = None,
    requirement: Requirement = NO_REQUIREMENT,
    now: datetime | None = None,
) -> Decision:
    """Decide one request: may this token, for this member, do `action_scope` (on `target`)?

    `token_problem` / `tenant_problem` carry what the caller found while loading the token and
    the tenant (None: no problem), so the trace covers every step. `read_scope` is the scope
    whose grant decides visibility; it defaults to `action_scope`. `target` is None for actions
    on a collection (list, create). `albums` is the token's album limit (None: none).
    `audience` is the resource the token was bound to (RFC 8707; empty: none) and `resource` the
    identifier of the resource this request is at (scopes.access.audience).
    """
    granted = tuple(normalise(token_scopes, implications))
    required = (action_scope,)
    trace: list[TraceStep] = []

    def refuse(status: int, reason: Reason, detail: str, **extra: Any) -> Decision:
        return Decision(
            allowed=False,
            status=status,
            reason=reason,
            detail=detail,
            required_scopes=required,
            granted_scopes=granted,
            trace=tuple(trace),
            **extra,
        )

    if token_problem:
        trace.append(TraceStep(Step.TOKEN, False, token_problem))
        return refuse(401, Reason.INVALID_TOKEN, f"The access token is not valid: {token_problem}.")
    trace.append(TraceStep(Step.TOKEN, True, "token is valid"))

    wrong_resource = resource_problem(audience, resource)
    if wrong_resource:
        # A token for another resource is not a token here (RFC 8707 section 2, RFC 6750 3.1):
        # 401 `invalid_token`, before the tenant, which a bound token's own audience already names.
        trace.append(TraceStep(Step.RESOURCE, False, wrong_resource))
        return refuse(401, Reason.WRONG_RESOURCE, f"The access token is not valid here: {wrong_resource}.")
    trace.append(
        TraceStep(
            Step.RESOURCE, True, f"bound to {' '.join(audience)}" if audience else "not bound to a resource"
        )
    )

    if tenant_problem:
        trace.append(TraceStep(Step.TENANT, False, tenant_problem))
        return refuse(404, Reason.TENANT_NOT_FOUND, "Not found.")
    trace.append(TraceStep(Step.TENANT, True, "token, tenant and membership agree"))

    token_closure = closure(token_scopes, implications)
    if action_scope not in token_closure:
        trace.append(TraceStep(Step.SCOPE, False, f"{action_scope} is not in the token's scopes"))
        return refuse(
            403,
            Reason.SCOPE_MISSING,
            f"This call needs the scope {action_scope}; the token was granted "
            f"{' '.join(granted) or 'no scopes'}.",
        )
    trace.append(TraceStep(Step.SCOPE, True, f"token covers {action_scope}"))

    reaches = grant_reaches(role_grants, implications)
    reach = reaches.get(action_scope)
    visible_reach = wider_reach(reaches.get(read_scope or action_scope), reach)
    role_label = f"{role_name or 'your role'}" + (f" in {tenant_name}" if tenant_name else "")
    if reach is None:
        trace.append(TraceStep(Step.ROLE, False, f"role {role_label} has no grant covering {action_scope}"))
        return refuse(
            403,
            Reason.ROLE_FORBIDS,
            f"Your role {role_label} does not allow {action_scope}.",
            visible_reach=visible_reach,
        )
    trace.append(TraceStep(Step.ROLE, True, f"role {role_label} grants {action_scope} on {reach} objects"))

    if requirement.any:
        when = now or datetime.now(UTC)
        told = (sign_in or NO_SIGN_IN).describe(when)
        if shortfall(sign_in, requirement, now=when) is not None:
            trace.append(
                TraceStep(
                    Step.SIGN_IN,
                    False,
                    f"{action_scope} needs {requirement.describe()}; the token has {told}",
                )
            )
            return refuse(
                401,
                Reason.INSUFFICIENT_USER_AUTHENTICATION,
                f"This call needs {requirement.describe()}; the token's user signed in with {told}. "
                "Authorize again with the acr_values and max_age given.",
                reach=reach,
                visible_reach=visible_reach,
                step_up=requirement,
            )
        trace.append(
            TraceStep(
                Step.SIGN_IN, True, f"{action_scope} needs {requirement.describe()}; the token has {told}"
            )
        )

    album_refusal = _album_step(albums, target, trace)
    if album_refusal is not None:
        status, reason, detail = album_refusal
        return refuse(status, reason, detail, reach=reach, visible_reach=visible_reach)

    if target is not None:
        visible = target.exists_in_tenant and (visible_reach == Reach.TENANT or target.owner_is_user)
        if not visible:
            trace.append(TraceStep(Step.OBJECT, False, "object does not exist or is outside your reach"))
            return refuse(404, Reason.NOT_FOUND, "Not found.", reach=reach, visible_reach=visible_reach)
        if reach == Reach.OWN and not target.owner_is_user:
            trace.append(TraceStep(Step.OBJECT, False, f"{action_scope} reaches only your own objects"))
            return refuse(
                403,
                Reason.NOT_OWNER,
                f"Your role {role_label} allows {action_scope} only on objects you own.",
                reach=reach,
                visible_reach=visible_reach,
            )
        trace.append(TraceStep(Step.OBJECT, True, "object is within reach"))

    return Decision(
        allowed=True,
        status=200,
        reason=None,
        detail="Allowed.",
        required_scopes=required,
        granted_scopes=granted,
        reach=reach,
        visible_reach=visible_reach,
        trace=tuple(trace),
    )


def _album_step(
    albums: frozenset[int] | None, target: Target | None, trace: list[TraceStep]
) -> tuple[int, Reason, str] | None:
    """The album limit (RFC 9396, scopes.access.albums): an object outside the token's albums does
    not exist for it (404), and nothing is put outside them (403 `resource_not_granted`)."""
    if albums is None:
        trace.append(TraceStep(Step.ALBUM, True, "the token has no album limit"))
        return None
    listed = ", ".join(str(a) for a in sorted(albums)) or "none left"
    if target is None:
        trace.append(TraceStep(Step.ALBUM, True, f"lists only the token's albums ({listed})"))
        return None
    if target.album_id is not None and target.album_id in albums:
        trace.append(TraceStep(Step.ALBUM, True, f"album {target.album_id} is one of the token's albums"))
        return None
    if target.placing:
        where = f"album {target.album_id}" if target.album_id is not None else "no album"
        trace.append(TraceStep(Step.ALBUM, False, f"{where} is not one of the token's albums ({listed})"))
        return (
            403,
            Reason.RESOURCE_NOT_GRANTED,
            f"This token may only put things into the albums it was granted ({listed}).",
        )
    trace.append(TraceStep(Step.ALBUM, False, f"the object is outside the token's albums ({listed})"))
    return 404, Reason.NOT_FOUND, "Not found."


def effective_permissions(
    *, token_scopes: Iterable[str], role_grants: Iterable[tuple[str, str]], implications: Implications
) -> dict[str, str | None]:
    """Per scope in the registry: the reach this token and role together allow (None: not allowed)."""
    token_closure = closure(token_scopes, implications)
    reaches: Mapping[str, str] = grant_reaches(role_grants, implications)
    return {name: (reaches.get(name) if name in token_closure else None) for name in sorted(implications)}
