"""Decisions by reason, counted where the API's permission class decides (no query: the decision is in hand).

`api_decisions_total{stage, reason}`: `stage` is `collection` (token, tenant, scope, role: every
request) or `object` (ownership and visibility, for one object); `reason` is `allowed` or the
refusal's stable code (`scope_missing`, `role_forbids`, `not_owner`, `not_found`, ...).
"""

from __future__ import annotations

from prometheus_client import Counter

from scopes.access.decision import Decision

DECISIONS = Counter("api_decisions", "Access decisions of the API, by stage and reason.", ["stage", "reason"])


def record(decision: Decision, *, stage: str) -> None:
    """Count one decision."""
    DECISIONS.labels(stage, "allowed" if decision.allowed else str(decision.reason)).inc()
