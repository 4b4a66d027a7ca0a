"""OAuth and OpenID Connect endpoints (`/o/`, `/.well-known/`) and the user's account pages (`/account/`).

Only DOT's base endpoints are mounted: its application-management URLs would let any signed-in
user register clients. Every endpoint DOT reverses by name lives in its `oauth2_provider`
namespace, the discovery documents too, so both are published at the site's root (the issuer).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView
from scopes import views
from scopes.oidc import views as oidc_views

oauth_patterns = (
    [
        path("o/authorize/", views.POPUP_PAGE(views.ConsentView.as_view()), name="authorize"),
        path("o/token/", views.TokenView.as_view(), name="token"),
        path("o/revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
        path("o/introspect/", views.IntrospectionView.as_view(), name="introspect"),
        path("o/userinfo/", oidc_views.UserInfoView.as_view(), name="user-info"),
        path("o/.well-known/jwks.json", oidc_views.JwksView.as_view(), name="jwks-info"),
        path("o/logout/", oidc_views.LogoutView.as_view(), name="rp-initiated-logout"),
        path(
            ".well-known/oauth-authorization-server",
            views.AuthorizationServerMetadataView.as_view(),
            name="oauth-authorization-server-metadata",
        ),
        path(
            ".well-known/openid-configuration",
            views.AuthorizationServerMetadataView.as_view(),
            name="oidc-connect-discovery-info",
        ),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("", include(oauth_patterns)),
    path("account/login/", views.POPUP_PAGE(SignInView.as_view()), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/apps/", views.connected_apps, name="account-apps"),
    path("account/apps/<int:consent_id>/revoke/", views.consent_revoke_view, name="account-app-revoke"),
    path(
        "account/apps/<int:consent_id>/remove-scopes/",
        views.consent_remove_scopes_view,
        name="account-app-narrow",
    ),
]
