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

from scopes.models import Application


def may_introspect(client: Application, *, application_id: int | None, tenant_id: int) -> bool:
    """May this (authenticated, confidential) client learn about a token of this app and tenant?"""
    if application_id == client.pk:
        return True
    return client.is_resource_server and client.tenant_id in (None, tenant_id)
