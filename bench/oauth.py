"""Stock DOT's OAuth endpoints on the product's database, for the OAuth phase (bench/oauth_phase.py).

DOT's own views (`TokenView`, `RevokeTokenView`, `IntrospectTokenView`), its own validator
(`OAuth2Validator`) and its own oauthlib core (`OAuthLibCore`), where the product's endpoints use
subclasses of all three. Two things differ from a stock install, both forced by the database they
share with the product:

- **The tenant.** The product's token tables are tenant rows behind row-level security, so a view
  finds no token until its transaction has entered the token's tenant. Like the list variants, these
  views take the tenant from the URL (`/bench/dot/t/<slug>/o/...`) and enter it in one statement
  (bench.views.enter_url_tenant) before DOT runs; the product's views ask a SECURITY DEFINER resolver
  for the credential's tenant instead, also one statement.
- **The tenant column.** The swapped token models require `tenant_id`, which DOT's
  `_create_access_token` and `_create_refresh_token` do not know about. `StockValidator` fills it in
  the one hook DOT calls on every new token before saving it (`_set_token_value`): the tenant of the
  refresh token a token is minted from, else of the client (client credentials), and a refresh
  token's that of its access token.
- **The refresh token's `revoke()`.** The product's `RefreshToken` model does DOT's `revoke()` in one
  statement (scopes.models); stock DOT's views run DOT's own method instead (`stock_revoke`), as a
  stock install would. gunicorn's workers are synchronous, one request at a time, so swapping the
  method for the length of a request reaches no other request.

Nothing else of DOT's is overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse
from oauth2_provider import views as dot_views
from oauth2_provider.models import AbstractRefreshToken
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.oauth2_validators import OAuth2Validator

from bench.views import enter_url_tenant
from scopes.models import AccessToken, RefreshToken


class StockValidator(OAuth2Validator):
    """DOT's validator; new tokens get the tenant column the product's models require."""

    def _set_token_value(self, token_instance: Any, raw_token: str) -> None:
        if isinstance(token_instance, AccessToken):
            source = token_instance.source_refresh_token
            token_instance.tenant_id = (
                source.tenant_id if source is not None else token_instance.application.tenant_id
            )
        elif isinstance(token_instance, RefreshToken):
            token_instance.tenant_id = token_instance.access_token.tenant_id
        super()._set_token_value(token_instance, raw_token)


class InUrlTenant:
    """Stock DOT's view, its own validator and core, after entering the URL's tenant."""

    validator_class = StockValidator
    oauthlib_backend_class = OAuthLibCore

    @classmethod
    def get_oauthlib_core(cls) -> Any:
        # Cached on this very class: DOT caches on whichever class asks, and the product's views
        # subclass the same DOT classes with their own validator.
        if "_oauthlib_core" not in cls.__dict__:
            cls._oauthlib_core = OAuthLibCore(cls.get_server())  # type: ignore[attr-defined]
        return cls.__dict__["_oauthlib_core"]

    def post(self, request: HttpRequest, *args: Any, tenant_slug: str, **kwargs: Any) -> HttpResponse:
        enter_url_tenant(tenant_slug)
        with stock_revoke():
            return super().post(request, *args, **kwargs)  # type: ignore[misc]


@contextmanager
def stock_revoke() -> Iterator[None]:
    """Inside, `RefreshToken.revoke()` is DOT's own (this process's requests are one at a time)."""
    product = RefreshToken.__dict__["revoke"]
    RefreshToken.revoke = AbstractRefreshToken.revoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        RefreshToken.revoke = product  # type: ignore[method-assign]


class StockTokenView(InUrlTenant, dot_views.TokenView):
    """`/o/token/` as DOT ships it (refresh and client-credentials grants here)."""


class StockRevokeTokenView(InUrlTenant, dot_views.RevokeTokenView):
    """`/o/revoke_token/` (RFC 7009) as DOT ships it."""


class StockIntrospectTokenView(InUrlTenant, dot_views.IntrospectTokenView):
    """`/o/introspect/` (RFC 7662) as DOT ships it: a client authenticated by its secret (Basic)."""
