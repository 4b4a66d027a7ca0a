"""django-oauth-toolkit's validator, taught tenants, consent caps and offline access.

DOT keeps doing the OAuth (codes, PKCE, rotation, reuse detection); this class adds what DOT
cannot know: which tenant a code and its tokens are for, that a refresh may never yield more than
the current consent and role allow, and that a refresh token exists only with `offline_access`.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from oauth2_provider.bcp import bcp_compliant
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2.rfc6749 import errors

from accounts.authn import NO_SIGN_IN, SignIn
from accounts.models import Tenant
from scopes.access.albums import format_limit, parse_limit, response_details
from scopes.access.applications import app_scopes
from scopes.access.audience import parse_resource
from scopes.access.selectors import registry
from scopes.access.standing import grant_standing
from scopes.access.tenancy import token_checksum
from scopes.consent.services import code_replay_revoke, token_family_revoke, tokens_revoke
from scopes.constants import ScopeName
from scopes.machines import oauth as machines
from scopes.models import AccessToken, Application, Consent, Grant, RefreshToken
from scopes.oauth import client_documents
from scopes.oidc import keys as oidc_keys
from scopes.oidc.validator import OpenIDConnectValidation
from scopes.registry import closure, normalise
from scopes.usage import consent_use
from scopes.usage import recorder as usage

# RFC 7636 4.1: a verifier is 43 to 128 unreserved characters; 4.2: an S256 challenge is the
# base64url (unpadded) SHA-256 of one, always 43 characters. A "plain" challenge is a verifier.
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
PKCE_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def pkce_challenge_problem(challenge: str, method: str | None) -> str | None:
    """Why `challenge` cannot be a PKCE challenge for `method` (RFC 7636 4.2), or None."""
    if method == "S256":
        if not PKCE_S256_CHALLENGE.fullmatch(challenge):
            return "code_challenge for S256 must be 43 base64url characters (RFC 7636 4.2)."
    elif not PKCE_VERIFIER.fullmatch(challenge):
        return "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 4.2)."
    return None


def pkce_verifier_problem(verifier: str) -> str | None:
    """Why `verifier` cannot be a PKCE code verifier (RFC 7636 4.1), or None."""
    if not PKCE_VERIFIER.fullmatch(verifier):
        return "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 4.1)."
    return None


def _require_tenant(request: OauthlibRequest) -> int:
    tenant_id = getattr(request, "tenant_id", None)
    if not tenant_id:
        # Fail closed: a code or token without a tenant would be usable nowhere, or anywhere.
        raise errors.InvalidRequestError(description="No tenant was chosen for this grant.", request=request)
    return tenant_id


def _lock_consent(request: OauthlibRequest) -> int | None:
    """Lock the request's consent row (FOR UPDATE) and return its id; None when it is gone.

    Every grant's validation reads its standing with the consent locked in the same statement
    (`lock_consent`, PostgreSQL), in this request's transaction: that lock holds until the token is
    written, so nothing is left to do. Otherwise (SQLite) the standing read named the consent
    (`request.grant_rows`) and locking that row by its key is one small statement. A consent
    deleted and given again since validation is another row, and the grant is refused as if it
    had been deleted.
    """
    rows = getattr(request, "grant_rows", None)
    if rows is not None and rows.consent_locked and rows.consent_id is not None:
        return int(rows.consent_id)
    if rows is None or rows.consent_id is None:
        return (
            Consent.objects.select_for_update()
            .filter(user=request.user, tenant_id=_require_tenant(request), application=request.client)
            .values_list("pk", flat=True)
            .first()
        )
    return rows.consent_id if _lock_row(Consent, rows.consent_id) else None


def _lock_row(model: type[Consent] | type[RefreshToken], pk: int, condition: str = "") -> bool:
    """Lock one row by its key (FOR UPDATE), in one small statement that builds no model; True when
    it exists (and meets `condition`, SQL on its columns)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {model._meta.db_table} WHERE id = %s {condition}{lock}", [pk])  # noqa: S608 (a model's table name)
        return cursor.fetchone() is not None


def _sign_in_columns(request: OauthlibRequest) -> dict[str, Any]:
    """How and when the user signed in, as a code or token stores it (accounts.authn).

    Set on the request by the consent page (the session's), by the code exchange (the code's) and
    by the refresh grant (the refresh token's), by the device grant (the approving session's); a
    service account has none.
    """
    sign_in = getattr(request, "sign_in", None)
    if not isinstance(sign_in, SignIn):
        sign_in = NO_SIGN_IN
    return {"acr": sign_in.acr, "amr": sign_in.amr_text, "auth_time": sign_in.auth_time}


class TenantOAuth2Validator(OpenIDConnectValidation, OAuth2Validator):
    """Binds codes and tokens to a tenant and caps refreshed scopes by consent and role.

    OpenID Connect (ID token claims and signature) is `scopes.oidc.validator`; its claims come
    from the standing the code exchange and the refresh read (`request.grant_rows`).
    """

    def _load_application(self, client_id: str, request: OauthlibRequest) -> Application | None:
        """No client has a NUL or another control character in its id; PostgreSQL cannot even
        compare such text (a DataError, so a 500), so such an id is unknown before any query."""
        if not client_id or any(ord(ch) < 32 or ord(ch) == 127 for ch in client_id):
            return None
        client: Application | None = super()._load_application(client_id, request)
        document = client_documents.take_fetched(client_id)
        if client is not None and document is not None:
            # DOT has just (re)written a self-registered app from its document: make it ours.
            client = client_documents.adopt(client, document)
            request.client = client
        return client

    def is_pkce_required(self, client_id: str, request: OauthlibRequest) -> bool:
        """PKCE is required (DOT's setting); and a challenge sent must be well-formed (RFC 7636 4.2).

        oauthlib asks this at the authorization endpoint right before it reads the challenge, after
        the client and redirect URI are known to be good, so the refusal is an `invalid_request`
        error redirect (with `iss`), decided before any page is shown or code stored (a 200-char
        challenge was a 500: the column is varchar(128)).
        """
        challenge = getattr(request, "code_challenge", None)
        if challenge is not None:
            problem = pkce_challenge_problem(challenge, getattr(request, "code_challenge_method", None))
            if problem:
                raise errors.InvalidRequestError(description=problem, request=request)
        return bool(super().is_pkce_required(client_id, request))

    def get_code_challenge(self, code: str, request: OauthlibRequest) -> str | None:
        """The code's challenge; and the verifier sent against it must be well-formed (RFC 7636 4.1).

        oauthlib asks for the challenge at the token endpoint after the code is validated (so a
        replayed code is still revoked) and before comparing the verifier: a verifier of 1, 42 or
        129 characters, or with characters outside the unreserved set, is `invalid_request` even
        when it hashes to the challenge.
        """
        challenge: str | None = super().get_code_challenge(code, request)
        verifier = getattr(request, "code_verifier", None)
        if challenge is not None and verifier is not None:
            problem = pkce_verifier_problem(verifier)
            if problem:
                raise errors.InvalidRequestError(description=problem, request=request)
        return challenge

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: Application,
        request: OauthlibRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        if not scopes or any(not s for s in scopes):
            return False
        if ScopeName.OPENID in scopes and oidc_keys.signing_keys() is None:
            return False  # no key to sign an ID token with: refuse rather than answer without one
        if (
            getattr(request, "grant_type", None) == machines.CLIENT_CREDENTIALS
        ):  # a service account (scopes.machines)
            return machines.validate_client_credentials(client, scopes, request)
        allowed = closure(app_scopes(client), registry().implications)
        return set(scopes) <= allowed

    def get_default_scopes(
        self, client_id: str, request: OauthlibRequest, *args: Any, **kwargs: Any
    ) -> list[str]:
        if request.grant_type == machines.CLIENT_CREDENTIALS:
            return machines.default_scopes(request.client)
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def authenticate_client(self, request: OauthlibRequest, *args: Any, **kwargs: Any) -> bool:
        """DOT's client authentication; then a service account's previous secret during its overlap."""
        if super().authenticate_client(request, *args, **kwargs):
            return True
        return machines.previous_secret_authenticates(request, self._load_application)

    def validate_code(
        self,
        client_id: str,
        code: str,
        client: Application,
        request: OauthlibRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        if code_replay_revoke(code=code, application=client):
            return False  # RFC 6749 4.1.2: a used code is refused, and what it issued is revoked
        grant = Grant.objects.filter(code=code, application=client).select_related("user").first()
        if grant is None or grant.is_expired():
            return False
        # The grant must still stand now, and the token gets what it allows now (scopes.access.standing).
        standing = grant_standing(
            user_id=grant.user_id,
            tenant_id=grant.tenant_id,
            application_id=client.pk,
            issued=grant.scope.split(),
            issued_albums=parse_limit(grant.albums),
            lock_consent=True,  # until the token is written (`_lock_consent`)
        )
        if standing is None or not standing.stands or not standing.effective:
            return False
        request.scopes = list(standing.effective)
        request.album_ids = format_limit(standing.albums)  # what the code's album limit reaches now
        request.user = grant.user
        request.tenant_id = grant.tenant_id
        request.grant_rows = standing.rows  # the ID token's claims (scopes.oidc)
        request.sign_in = SignIn.of(grant.acr, grant.amr, grant.auth_time)  # the tokens remember it
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: OauthlibRequest, *args: Any, **kwargs: Any
    ) -> None:
        """Mark the code used, naming what it issued; if a concurrent exchange already did, undo this one.

        oauthlib saves the tokens before it invalidates the code, so two requests racing with one
        code both pass validation and both save tokens. Exactly one of them marks the code used
        (a conditional update: the database serialises the two); the other deletes the tokens it
        saved (never delivered) and, the code having now been used twice, revokes the winner's
        too (RFC 6749 section 4.1.2), then answers invalid_grant. The kept row lets a later replay
        find and revoke the tokens (`validate_code`).
        """
        issued: AccessToken | None = getattr(request, "issued_access_token", None)
        refresh: RefreshToken | None = getattr(request, "issued_refresh_token", None)
        used = Grant.objects.filter(code=code, application=request.client, used_at__isnull=True).update(
            used_at=timezone.now(),
            access_token=issued,
            token_family=refresh.token_family if refresh is not None else None,
        )
        if used:
            return
        if issued is not None:
            RefreshToken.objects.filter(access_token=issued).delete()
            issued.delete()
        code_replay_revoke(code=code, application=request.client)
        raise errors.InvalidGrantError(request=request)

    def _create_authorization_code(self, request: OauthlibRequest, code: dict, expires: Any = None) -> Grant:
        tenant_id = _require_tenant(request)
        if request.code_challenge_method == "plain" and bcp_compliant(
            "COMPLIANT_BCP_RFC9700_PKCE_METHOD", 'The PKCE "plain" code_challenge_method'
        ):
            raise errors.InvalidRequestError(
                description='Unsupported "plain" code_challenge_method; use "S256".', request=request
            )
        return Grant.objects.create(
            application=request.client,
            user=request.user,
            tenant_id=tenant_id,
            code=code["code"],
            expires=expires
            or timezone.now() + timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS),
            redirect_uri=request.redirect_uri,
            scope=" ".join(request.scopes),
            code_challenge=request.code_challenge or "",
            code_challenge_method=request.code_challenge_method or "",
            nonce=request.nonce or "",
            claims=json.dumps(request.claims or {}),
            resource=getattr(request, "resource", []),
            albums=getattr(request, "album_ids", None),
            **_sign_in_columns(request),
        )

    def _create_access_token(
        self,
        expires: Any,
        request: OauthlibRequest,
        token: dict,
        source_refresh_token: RefreshToken | None = None,
    ) -> AccessToken:
        access_token = AccessToken(
            # DOT clears the user of a client credentials grant; ours is the service account's.
            user=request.user or getattr(request, "service_user", None),
            tenant_id=_require_tenant(request),
            scope=token["scope"],
            expires=expires,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
            albums=getattr(request, "album_ids", None),
            id_token=getattr(request, "id_token", None),
            **_sign_in_columns(request),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        # Remembered so a code exchange that loses a race can take back what it minted.
        request.issued_access_token = access_token
        return access_token

    def _create_refresh_token(
        self,
        request: OauthlibRequest,
        refresh_token_code: str,
        access_token: AccessToken,
        previous_refresh_token: RefreshToken | None,
    ) -> RefreshToken:
        refresh_token = RefreshToken(
            user=request.user,
            tenant_id=_require_tenant(request),
            application=request.client,
            access_token=access_token,
            token_family=previous_refresh_token.token_family if previous_refresh_token else uuid.uuid4(),
            resource=getattr(request, "resource", []),
            albums=getattr(request, "album_ids", None),
            **_sign_in_columns(request),
        )
        self._set_token_value(refresh_token, refresh_token_code)
        refresh_token.save()
        # Remembered so the code it was issued from can name its family (a replay revokes it).
        request.issued_refresh_token = refresh_token
        return refresh_token

    def save_bearer_token(self, token: dict, request: OauthlibRequest, *args: Any, **kwargs: Any) -> None:
        """DOT's save, then: a refresh that minted nothing lost a race for its refresh token.

        Two requests with one refresh token both pass validation; DOT's row lock orders them and the
        second finds the token already rotated. DOT then answers with the first request's pair,
        which it cannot do with hashed token storage (the answer would carry a token that does not
        exist: a 500). One refresh token used twice is reuse (RFC 9700 4.14.2): the family is
        revoked, audited, and the request answered invalid_grant, exactly as a later reuse is.
        Outside DOT's transaction, so the revocation stays when the error is raised.
        """
        request.issued_access_token = None
        try:
            super().save_bearer_token(token, request, *args, **kwargs)
        except errors.InvalidGrantError:
            # `_grant_still_stands` found the refresh token revoked (rotated by a concurrent refresh,
            # or revoked meanwhile) or the consent gone: a revoked refresh token presented is reuse.
            if request.grant_type == "refresh_token":
                self._revoke_family_of(request)
            raise
        if request.grant_type != "refresh_token" or request.issued_access_token is not None:
            return
        self._revoke_family_of(request)
        raise errors.InvalidGrantError(description="This refresh token was already used.", request=request)

    def _revoke_family_of(self, request: OauthlibRequest) -> None:
        """Revoke the family of the refresh token this request presented (audited)."""
        used = RefreshToken.objects.filter(token_checksum=token_checksum(request.refresh_token or "")).first()
        if used is not None:
            token_family_revoke(
                token_family=used.token_family,
                application=request.client,
                via=f"refresh token reused concurrently, client {request.client.client_id}",
            )

    def _save_bearer_token(self, token: dict, request: OauthlibRequest, *args: Any, **kwargs: Any) -> None:
        self._grant_still_stands(request)
        implications = registry().implications
        scopes = normalise(request.scopes or [], implications)
        token["scope"] = " ".join(scopes)
        albums = parse_limit(getattr(request, "album_ids", None))
        if albums is not None:
            # RFC 9396 section 7: the granted authorization details, next to the granted scope.
            token["authorization_details"] = response_details(scopes, albums, implications)
        if ScopeName.OFFLINE_ACCESS not in closure(scopes, implications):
            # No offline access granted: the client gets an access token only.
            token.pop("refresh_token", None)
        super()._save_bearer_token(token, request, *args, **kwargs)
        # The admin's "last used", written off the request path (a record, never a right).
        consent_use.note_use(request.standing_consent_id, tenant_id=_require_tenant(request))
        # Every grant with a user passes here (code, refresh, device): the ID token and the refresh
        # token it answers with are uses of `openid`/`profile`/`email` and `offline_access`
        # (scopes.usage.recorder). A client-credentials token has neither.
        if request.user is not None:
            usage.note_grant_use(
                tenant_id=_require_tenant(request),
                application_id=request.client.pk,
                user_id=request.user.pk,
                scopes=usage.grant_scopes_exercised(
                    scopes, id_token="id_token" in token, refresh_token="refresh_token" in token
                ),
            )

    def _check_and_set_request_resource(self, request: OauthlibRequest) -> None:
        """RFC 8707 at the token endpoint: DOT's rules, then ours.

        DOT checks the syntax (absolute URI, no fragment), keeps a code's or refresh token's
        resource when the request names none, and refuses a resource outside it (`invalid_target`):
        a refresh may narrow an unbound grant to one resource, never widen a bound one. Ours: the
        resource must be exactly one of this server's (scopes.access.audience), at most one, and a
        tenant's API must be the grant's tenant's, or the token could be used nowhere.
        """
        super()._check_and_set_request_resource(request)
        resources = list(request.resource or [])
        if not resources:
            return
        if len(resources) > 1:
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description="A token is bound to one resource: send one resource parameter.",
                request=request,
            )
        found = parse_resource(resources[0], oauth2_settings.oidc_issuer(request))
        if found is None or (
            found.tenant_slug is not None
            and not Tenant.objects.filter(pk=_require_tenant(request), slug=found.tenant_slug).exists()
        ):
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=(
                    "resource must be the identifier of one of this server's protected resources "
                    "in the grant's organisation."
                ),
                request=request,
            )

    def _grant_still_stands(self, request: OauthlibRequest) -> None:
        """Check again, under the rows' locks, what validation checked before any token is written.

        Validation and saving are separate steps: a consent revoked, or a refresh token revoked,
        between them would be outrun (the revocation misses tokens that do not exist yet, and the
        new ones outlive it). Runs inside DOT's transaction and takes the locks the revocations
        take, in the same order (consent, then refresh token), so one waits for the other and then
        sees what it did.
        """
        consent_id = _lock_consent(request)
        if consent_id is None:
            raise errors.InvalidGrantError(description="This grant is no longer valid.", request=request)
        request.standing_consent_id = consent_id
        if request.grant_type == "refresh_token":
            instance = getattr(request, "refresh_token_instance", None)
            if instance is None or not _lock_row(RefreshToken, instance.pk, "AND revoked IS NULL"):
                raise errors.InvalidGrantError(description="This refresh token was revoked.", request=request)

    def validate_refresh_token(
        self, refresh_token: str, client: Application, request: OauthlibRequest, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        rt = request.refresh_token_instance
        request.tenant_id = rt.tenant_id
        # The refreshed tokens keep the sign-in of the refresh token: a refresh never raises it.
        request.sign_in = SignIn.of(rt.acr, rt.amr, rt.auth_time)
        return True

    def get_original_scopes(
        self, refresh_token: str, request: OauthlibRequest, *args: Any, **kwargs: Any
    ) -> list[str]:
        """The refreshed token's scopes: the old ones, capped by what the grant allows today.

        One answer for every endpoint (`scopes.access.standing`): a user deactivated, a tenant deactivated,
        a membership or consent removed refuses the refresh; a lowered role, a narrowed consent or
        an app scope removed shrinks it.
        """
        original = super().get_original_scopes(refresh_token, request, *args, **kwargs)
        original = original.split() if isinstance(original, str) else list(original)
        rt: RefreshToken = request.refresh_token_instance
        standing = grant_standing(
            user_id=rt.user_id,
            tenant_id=rt.tenant_id,
            application_id=rt.application_id,
            issued=original,
            issued_albums=parse_limit(rt.albums),
            lock_consent=True,  # until the token is written (`_lock_consent`)
        )
        if standing is None or not standing.stands:
            raise errors.InvalidGrantError(description="This grant is no longer valid.", request=request)
        request.grant_rows = standing.rows  # the refreshed ID token's claims (scopes.oidc)
        capped = list(standing.effective)
        # The refreshed token keeps the album limit, capped as the scopes are: never wider.
        request.album_ids = format_limit(standing.albums)
        if ScopeName.OFFLINE_ACCESS not in closure(capped, registry().implications):
            raise errors.InvalidGrantError(
                description="Offline access is no longer granted.", request=request
            )
        return capped

    def revoke_token(
        self, token: str, token_type_hint: str | None, request: OauthlibRequest, *args: Any, **kwargs: Any
    ) -> None:
        """RFC 7009, as DOT does it (only the calling client's tokens), plus an audit row per token.

        Found by the checksum alone, then kept only when it is the calling client's (another
        client's token is treated as unknown, and the answer is the same 200). Filtering by the
        client in SQL as well, as DOT does, lets the planner read the token through the client's
        index whenever its statistics lag (a client that minted many tokens since the last
        ANALYZE): on the bench's database that read filtered 9,752 rows (1 ms) where the checksum's
        unique index reads one.
        """
        application_pk = getattr(request.client, "pk", None)
        if application_pk is None:
            return
        checksum = token_checksum(token)

        def calling_clients(model: type[AccessToken] | type[RefreshToken]) -> list[Any]:
            found = model.objects.filter(token_checksum=checksum).select_related("user", "tenant")
            return [t for t in found if t.application_id == application_pk]

        access = calling_clients(AccessToken)
        refresh = [] if access else calling_clients(RefreshToken)
        tokens_revoke(
            actor=None,
            access_tokens=access,
            refresh_tokens=refresh,
            via=f"revocation endpoint, client {request.client.client_id}",
        )

    def is_within_original_scope(
        self,
        request_scopes: list[str],
        refresh_token: str,
        request: OauthlibRequest,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        # Asking for `photos.read` from a token holding `photos.write` is a narrowing, not a widening.
        original = self.get_original_scopes(refresh_token, request)
        return set(request_scopes) <= closure(original, registry().implications)
