"""The client credentials grant for service accounts, as `TenantOAuth2Validator` uses it.

A client-credentials app is bound to one service account. Its token request is judged by the
one standing (`scopes.access.standing.standing_of`) for (the account's user, its tenant, the app):
the account disabled, its membership gone or the tenant inactive refuses it; the scope asked for
(everything the app may ask for, when none is asked) is capped by the app's allowed scopes, the
account's consent and its role, and the response's `scope` says what was granted.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.utils import timezone
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2.rfc6749 import errors

from accounts import tenancy
from scopes.access.applications import app_scopes
from scopes.access.cache import locked_source_grant
from scopes.access.standing import standing_of
from scopes.machines.models import ServiceAccount
from scopes.machines.selectors import service_account_of
from scopes.models import Application

CLIENT_CREDENTIALS = "client_credentials"


def default_scopes(client: Application) -> list[str]:
    """No `scope` asked for: everything the app may ask for (then capped like any request)."""
    return sorted(app_scopes(client))


def _service_account_source() -> str:
    """The service account's grant, as `locked_source_grant` reads it: (user, tenant, app)."""
    table = ServiceAccount._meta.db_table
    return f"SELECT user_id, tenant_id, application_id FROM {table} WHERE application_id = %s"  # noqa: S608 (a model's table name)


def validate_client_credentials(client: Application, scopes: list[str], request: OauthlibRequest) -> bool:
    """Cap the requested scopes by the standing; set the token's user, tenant and scopes on `request`.

    False (`invalid_scope`) when nothing is left; `invalid_client` when the app is bound to no
    service account or the account's grant no longer stands (disabled, removed from the tenant).
    The account and its grant's rows are read in one statement, which locks its consent
    (`scopes.access.cache.locked_source_grant`): the grant probe when this process holds the grant's
    rows under the versions it shows, else the grant's query, after the probe.
    """
    if client.tenant_id is None or client.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS:
        raise errors.InvalidClientError(description="This client has no service account.", request=request)
    tenancy.include_tenant(client.tenant_id)
    # Its consent is locked by the same statement: the token is written in this transaction.
    rows = locked_source_grant(_service_account_source(), [client.pk])
    standing = None if rows is None else standing_of(rows, issued=scopes)
    if standing is None or standing.rows.user is None:
        raise errors.InvalidClientError(description="This client has no service account.", request=request)
    if not standing.stands:
        raise errors.InvalidClientError(
            description=f"This service account cannot be used: {standing.detail}.", request=request
        )
    if not standing.effective:
        return False
    request.scopes = list(standing.effective)
    request.user = standing.rows.user
    request.service_user = standing.rows.user  # DOT clears request.user for this grant before saving
    request.tenant_id = standing.rows.tenant.pk
    request.grant_rows = standing.rows  # its consent, locked until the token is written
    return True


def _offered_credentials(request: OauthlibRequest) -> list[tuple[str, str]]:
    """(client id, secret) pairs the request offers, read as DOT reads them (Basic, then the body)."""
    offered = []
    header = (request.headers or {}).get("HTTP_AUTHORIZATION") or (request.headers or {}).get(
        "Authorization", ""
    )
    scheme, _, encoded = header.partition(" ")
    if scheme == "Basic":
        try:
            client_id, _, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
            offered.append((unquote_plus(client_id), unquote_plus(secret)))
        except (binascii.Error, UnicodeDecodeError):
            pass
    body_id, body_secret = getattr(request, "client_id", None), getattr(request, "client_secret", None)
    if body_id and body_secret:
        offered.append((body_id, body_secret))
    return offered


def previous_secret_authenticates(request: OauthlibRequest, load: object) -> bool:
    """After a secret rotation, the previous secret still authenticates until its overlap ends.

    Only for client-credentials apps bound to a service account; `load` is the validator's
    application loader (which refuses malformed ids).
    """
    now = timezone.now()
    for client_id, secret in _offered_credentials(request):
        request.client = None
        client = load(client_id, request)  # type: ignore[operator]
        if client is None or client.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS:
            continue
        account = service_account_of(client)
        if (
            account is not None
            and account.previous_secret
            and account.previous_secret_expires is not None
            and now < account.previous_secret_expires
            and check_password(secret, account.previous_secret)
        ):
            request.client = client
            return True
    request.client = None
    return False
