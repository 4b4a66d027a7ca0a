"""Entering the tenant a credential belongs to, for endpoints that learn the tenant from it.

The API, the token, revocation and introspection endpoints are given a token or a code before
they know any tenant. On PostgreSQL these rows sit behind row-level security, so each endpoint
first asks a SECURITY DEFINER function (scopes/migrations/0003) for the credential's tenant and
enters it, in one statement; everything after runs under that tenant's policy. An unknown
credential enters nothing, so whatever follows finds nothing: the answers stay those of an
unknown credential.
"""

from __future__ import annotations

import hashlib

from accounts import tenancy

ACCESS_TOKEN_RESOLVER = "scopes_access_token_tenant"
REFRESH_TOKEN_RESOLVER = "scopes_refresh_token_tenant"
ANY_TOKEN_RESOLVER = "scopes_token_tenant"
CODE_RESOLVER = "scopes_grant_tenant"


def token_checksum(raw_token: str) -> str:
    """How DOT indexes tokens: the SHA-256 of the raw value."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def enter_tenant_of_access_token(checksum: str) -> bool:
    """Enter the tenant of the access token with this checksum; False if there is none."""
    return tenancy.enter_tenant_of(ACCESS_TOKEN_RESOLVER, checksum)


def enter_tenant_of_refresh_token(raw_token: str) -> bool:
    """Enter the tenant of this refresh token; False if there is none."""
    return tenancy.enter_tenant_of(REFRESH_TOKEN_RESOLVER, token_checksum(raw_token))


def enter_tenant_of_token(raw_token: str) -> bool:
    """Enter the tenant of this access or refresh token (revocation takes either)."""
    return tenancy.enter_tenant_of(ANY_TOKEN_RESOLVER, token_checksum(raw_token))


def enter_tenant_of_code(code: str) -> bool:
    """Enter the tenant of this authorization code; False if there is none."""
    return tenancy.enter_tenant_of(CODE_RESOLVER, code)
