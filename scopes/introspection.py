"""Who may introspect which token (RFC 7662 section 4 leaves the rule to the server).

A token says who its user is, in which tenant, for which app and with what scope: that is not for
every client with a secret to read. The rule:

- a client may always ask about its own tokens (they were issued to it);
- a client an administrator marked as a resource server (`Application.is_resource_server`) may
  ask about the tokens of its tenant, or of every tenant when it has none, because it must
  check the tokens it is sent;
- anyone else is answered `{"active": false}`, exactly as for an unknown token, so the answer
  does not even say the token exists.
"""

from __future__ import annotations

from scopes.models import AccessToken, Application
from scopes.tenancy import enter_tenant_of_access_token, token_checksum


def may_introspect(client: Application, token: str) -> bool:
    """May this (authenticated, confidential) client learn anything about this access token?"""
    checksum = token_checksum(token)
    # On PostgreSQL the token is behind row-level security: enter its tenant to read its owner.
    if not enter_tenant_of_access_token(checksum):
        return False
    issued = (
        AccessToken.objects.filter(token_checksum=checksum).values_list("application_id", "tenant_id").first()
    )
    if issued is None:
        return False
    application_id, tenant_id = issued
    if application_id == client.pk:
        return True
    return client.is_resource_server and client.tenant_id in (None, tenant_id)
