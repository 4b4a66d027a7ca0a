"""The OpenID Connect half of our oauthlib validator (mixed into `TenantOAuth2Validator`).

DOT and oauthlib decide when an ID token is due (`openid` among the token's scopes, on the code
exchange and on refresh), add `aud`, `iat`, `nonce` and `at_hash`, and DOT adds `iss`, `exp`,
`auth_time` and `jti`. This mixin supplies what they cannot know: the claims, from the grant's
standing read by the code exchange or the refresh (`request.grant_rows`), and the signature, by
our key set (`scopes.oidc.keys`) rather than a per-application algorithm and one settings key.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import router, transaction
from jwcrypto import jws, jwt
from jwcrypto.common import JWException
from oauthlib.common import Request as OauthlibRequest

from accounts.authn import SignIn
from scopes.oidc import keys
from scopes.oidc.claims import CLAIMS_SUPPORTED, identity_claims


class OpenIDConnectValidation:
    """ID token claims and signature; silent (prompt=none) checks are the consent view's."""

    # DOT filters claims by this map; ours are chosen by `identity_claims` already.
    oidc_claim_scope = None

    def get_claim_dict(self, request: OauthlibRequest) -> dict[str, Any]:
        rows = getattr(request, "grant_rows", None)
        if rows is None:
            return {}
        return identity_claims(rows, request.scopes or [])

    def get_discovery_claims(self, request: Any) -> list[str]:
        return list(CLAIMS_SUPPORTED)

    def finalize_id_token(
        self, id_token: dict[str, Any], token: dict[str, Any], token_handler: Any, request: OauthlibRequest
    ) -> str:
        key_set = keys.signing_keys()
        if key_set is None:  # validate_scopes refuses `openid` without a key; a key removed since
            raise RuntimeError("No OpenID Connect signing key is configured.")
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)  # type: ignore[attr-defined]
        id_token.update(**claims)
        # How and when the user signed in, as the code remembers it (accounts.authn), in place of
        # DOT's auth_time (the user's last login, whichever session that was).
        sign_in = getattr(request, "sign_in", None)
        if isinstance(sign_in, SignIn) and sign_in.acr:
            id_token["acr"] = sign_in.acr
            id_token["amr"] = list(sign_in.amr)
            if sign_in.auth_time is not None:
                id_token["auth_time"] = int(sign_in.auth_time.timestamp())
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        header = {"typ": "JWT", "alg": "RS256", "kid": key_set.active.thumbprint()}
        signed = jwt.JWT(header=json.dumps(header), claims=json.dumps(id_token, default=str))
        signed.make_signed_token(key_set.active)
        model = self._id_token_model()
        with transaction.atomic(using=router.db_for_write(model)):
            request.id_token = self._save_id_token(id_token["jti"], request, expiration_time)  # type: ignore[attr-defined]
        request.access_token = request.id_token
        return str(signed.serialize())

    @staticmethod
    def _id_token_model() -> Any:
        from oauth2_provider.models import get_id_token_model

        return get_id_token_model()

    def _get_key_for_token(self, token: str) -> Any:
        """The published key named by the token's `kid` (RP-initiated logout's id_token_hint)."""
        key_set = keys.signing_keys()
        if key_set is None:
            return None
        unverified = jws.JWS()
        try:
            unverified.deserialize(token)
            kid = unverified.jose_header.get("kid")
        except (JWException, ValueError, TypeError):
            return None
        return key_set.by_kid(kid) if isinstance(kid, str) else None

    def validate_silent_login(self, request: OauthlibRequest) -> bool:
        # The consent view requires a session (DOT answers prompt=none without one: login_required).
        return True

    def validate_silent_authorization(self, request: OauthlibRequest) -> bool:
        # Whether remembered consent answers is the consent plan's question (consent_required).
        return True
