"""OAuth endpoints (`/o/`) and the user's account pages (`/account/`).

Only DOT's base endpoints are mounted: its application-management URLs would let any signed-in
user register clients.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView
from scopes import views

oauth_patterns = (
    [
        path("authorize/", views.POPUP_PAGE(views.ConsentView.as_view()), name="authorize"),
        path("token/", views.TokenView.as_view(), name="token"),
        path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", views.IntrospectionView.as_view(), name="introspect"),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("o/", include(oauth_patterns)),
    path(
        ".well-known/oauth-authorization-server",
        views.AuthorizationServerMetadataView.as_view(),
        name="oauth-authorization-server-metadata",
    ),
    path("account/login/", views.POPUP_PAGE(SignInView.as_view()), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/apps/", views.connected_apps, name="account-apps"),
    path("account/apps/<int:consent_id>/revoke/", views.consent_revoke_view, name="account-app-revoke"),
    path(
        "account/apps/<int:consent_id>/remove-album/",
        views.consent_remove_album_view,
        name="account-app-remove-album",
    ),
    path(
        "account/apps/<int:consent_id>/remove-scopes/",
        views.consent_remove_scopes_view,
        name="account-app-narrow",
    ),
]
