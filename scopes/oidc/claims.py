"""Which claims a grant discloses: computed from the grant's rows as they are now (`scopes.standing`).

The ID token and the userinfo endpoint both ask here, so they cannot disagree. `sub` is the user's
id; the tenant the user picked (id and slug) and their current role there come with `openid`;
`profile` and `email` add the standard claims of OpenID Connect Core 5.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scopes.access.rows import GrantRows
from scopes.constants import ScopeName

# What discovery lists as `claims_supported`.
CLAIMS_SUPPORTED = (
    "sub",
    "tenant",
    "role",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
)


def identity_claims(rows: GrantRows, scopes: Iterable[str]) -> dict[str, Any]:
    """The claims `scopes` allow about the grant's user, tenant and current role."""
    granted = set(scopes)
    user = rows.user
    if user is None or ScopeName.OPENID not in granted:
        return {}
    claims: dict[str, Any] = {
        "sub": str(user.pk),
        "tenant": {"id": rows.tenant.pk, "slug": rows.tenant.slug},
        "role": rows.role_name,
    }
    if ScopeName.PROFILE in granted:
        claims["preferred_username"] = user.get_username()
        claims["name"] = user.get_full_name() or user.get_username()
        if user.first_name:
            claims["given_name"] = user.first_name
        if user.last_name:
            claims["family_name"] = user.last_name
    if ScopeName.EMAIL in granted and user.email:
        claims["email"] = user.email
        claims["email_verified"] = False  # nobody proved the address belongs to the user
    return claims
