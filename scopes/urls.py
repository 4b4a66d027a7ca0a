"""OAuth endpoints (`/o/`) and the user's account pages (`/account/`).

Only DOT's base endpoints are mounted: its application-management URLs would let any signed-in
user register clients.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView
from scopes.consent import views as consent
from scopes.oauth import views as oauth
from scopes.oauth.popup import POPUP_PAGE

oauth_patterns = (
    [
        path("authorize/", POPUP_PAGE(consent.ConsentView.as_view()), name="authorize"),
        path("token/", oauth.TokenView.as_view(), name="token"),
        path("revoke_token/", oauth.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", oauth.IntrospectionView.as_view(), name="introspect"),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("o/", include(oauth_patterns)),
    path(
        ".well-known/oauth-authorization-server",
        oauth.AuthorizationServerMetadataView.as_view(),
        name="oauth-authorization-server-metadata",
    ),
    path("account/login/", POPUP_PAGE(SignInView.as_view()), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/apps/", consent.connected_apps, name="account-apps"),
    path("account/apps/<int:consent_id>/revoke/", consent.consent_revoke_view, name="account-app-revoke"),
    path(
        "account/apps/<int:consent_id>/remove-scopes/",
        consent.consent_remove_scopes_view,
        name="account-app-narrow",
    ),
]
