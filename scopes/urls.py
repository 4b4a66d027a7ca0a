"""OAuth endpoints (`/o/`) and the user's account pages (`/account/`).

Only DOT's base endpoints are mounted: its application-management URLs would let any signed-in
user register clients.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView
from scopes.consent import views as consent
from scopes.machines import views as machine_views
from scopes.oauth import views as oauth
from scopes.oauth.popup import POPUP_PAGE
from scopes.tenant_policy import views as policy_views

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
    path("account/tokens/", machine_views.personal_tokens, name="account-tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        machine_views.personal_token_revoke_view,
        name="account-token-revoke",
    ),
    path(
        "account/apps/<int:consent_id>/remove-album/",
        consent.consent_remove_album_view,
        name="account-app-remove-album",
    ),
    path(
        "account/apps/<int:consent_id>/remove-scopes/",
        consent.consent_remove_scopes_view,
        name="account-app-narrow",
    ),
    # Tenant app policy and access requests (scopes.tenant_policy).
    path("account/requests/", policy_views.my_requests, name="account-requests"),
    path("account/requests/new/", policy_views.request_new, name="account-request-new"),
    path("account/org/<slug:slug>/", policy_views.org_admin, name="org-admin"),
    path("account/org/<slug:slug>/policy/", policy_views.org_policy, name="org-policy"),
    path("account/org/<slug:slug>/apps/", policy_views.org_app, name="org-app"),
    path(
        "account/org/<slug:slug>/requests/<int:request_id>/decide/",
        policy_views.org_decide,
        name="org-request-decide",
    ),
]
