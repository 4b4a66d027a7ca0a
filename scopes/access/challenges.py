"""RFC 6750's challenge for a missing scope, shared by every protected resource (the API, userinfo).

One text, so an agent reads the same instruction wherever it is refused for a scope.
"""

from __future__ import annotations

from collections.abc import Sequence


def insufficient_scope_challenge(required: Sequence[str], *, realm: str, personal_token: bool = False) -> str:
    """RFC 6750 section 3.1's challenge for a missing scope: what the client asks for next time.

    `scope` is exactly the scope the call needs (incremental authorization: ask for it alone);
    `error_description` says how to keep what the token already has; the caller adds
    `resource_metadata` (RFC 9728), which leads to the authorization server and to the resource's
    identifier, the `resource` to ask for (RFC 8707). docs/agents.md walks the round trip. Scope
    names are safe tokens (the registry refuses any other), so they may stand in a quoted string.
    """
    needed = " ".join(required)
    if personal_token:  # made on /account/tokens/, not authorized: its scopes never grow
        how = "A personal access token cannot gain scopes: create one that has it."
    else:
        how = (
            "Ask the authorization server for it with include_granted_scopes=true "
            "to keep the scopes this token has."
        )
    description = f"This call needs the scope {needed}. {how}"
    return (
        f'Bearer realm="{realm}", error="insufficient_scope", scope="{needed}", '
        f'error_description="{description}"'
    )
