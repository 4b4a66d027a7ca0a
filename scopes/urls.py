"""OAuth and OpenID Connect endpoints (`/o/`, `/.well-known/`) and the user's account pages (`/account/`).

Only DOT's base endpoints are mounted: its application-management URLs would let any signed-in
user register clients. Every endpoint DOT reverses by name lives in its `oauth2_provider`
namespace, the discovery documents too, so both are published at the site's root (the issuer).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import factor_views, recovery
from accounts.ratelimit import limit_posts, signed_in_limits
from accounts.views import SignInView
from scopes.consent import connected_apps
from scopes.consent import views as consent
from scopes.device import views as device
from scopes.machines import views as machine_views
from scopes.oauth import views as oauth
from scopes.oauth.device_authorization import DeviceAuthorizationView
from scopes.oauth.popup import POPUP_PAGE
from scopes.oauth.registration import DynamicRegistrationView
from scopes.oidc import views as oidc
from scopes.tenant_policy import views as policy_views

# Each consent or device approval answer uses up a form (a `ConsentFormUse` row) and may write a
# consent: counted per person (accounts.ratelimit.limit_posts; RATE_LIMITS["consent-user"]).
answers_limited = limit_posts(signed_in_limits("consent-user"))

oauth_patterns = (
    [
        path("o/authorize/", POPUP_PAGE(answers_limited(consent.ConsentView.as_view())), name="authorize"),
        path("o/token/", oauth.TokenView.as_view(), name="token"),
        path("o/register/", DynamicRegistrationView.as_view(), name="register"),
        path("o/revoke_token/", oauth.RevokeTokenView.as_view(), name="revoke-token"),
        path("o/introspect/", oauth.IntrospectionView.as_view(), name="introspect"),
        path("o/userinfo/", oidc.UserInfoView.as_view(), name="user-info"),
        path("o/.well-known/jwks.json", oidc.JwksView.as_view(), name="jwks-info"),
        path("o/logout/", oidc.LogoutView.as_view(), name="rp-initiated-logout"),
        path("o/device-authorization/", DeviceAuthorizationView.as_view(), name="device-authorization"),
        path("o/device/", device.device_code_entry, name="device"),
        path("o/device/approve/", answers_limited(device.DeviceApproveView.as_view()), name="device-approve"),
        path(
            ".well-known/oauth-authorization-server",
            oauth.AuthorizationServerMetadataView.as_view(),
            name="oauth-authorization-server-metadata",
        ),
        path(
            ".well-known/openid-configuration",
            oauth.AuthorizationServerMetadataView.as_view(),
            name="oidc-connect-discovery-info",
        ),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("", include(oauth_patterns)),
    path("account/login/", POPUP_PAGE(SignInView.as_view()), name="login"),
    path("account/login/second-factor/", POPUP_PAGE(factor_views.second_factor), name="login-second-factor"),
    path("account/verify/", POPUP_PAGE(factor_views.step_up), name="account-verify"),
    path("account/security/", factor_views.security, name="account-security"),
    path(
        "account/security/passkeys/options/",
        factor_views.passkey_register_options,
        name="passkey-register-options",
    ),
    path("account/security/passkeys/", factor_views.passkey_register, name="passkey-register"),
    path("account/passkey/options/", POPUP_PAGE(factor_views.passkey_options), name="passkey-options"),
    path("account/passkey/verify/", POPUP_PAGE(factor_views.passkey_verify), name="passkey-verify"),
    path("account/password/reset/", recovery.request_reset, name="password-reset"),
    path("account/password/reset/sent/", recovery.ResetSentView.as_view(), name="password-reset-done"),
    path(
        "account/password/reset/<uidb64>/<token>/",
        recovery.ResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "account/password/reset/done/", recovery.ResetCompleteView.as_view(), name="password-reset-complete"
    ),
    path("account/email/verify/", recovery.send_verification_limited, name="email-verify-send"),
    path("account/email/verify/<str:signed>/", recovery.verify_email, name="email-verify"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/apps/", connected_apps.connected_apps, name="account-apps"),
    path(
        "account/apps/<int:consent_id>/revoke/", connected_apps.consent_revoke_view, name="account-app-revoke"
    ),
    path("account/tokens/", machine_views.personal_tokens, name="account-tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        machine_views.personal_token_revoke_view,
        name="account-token-revoke",
    ),
    path(
        "account/apps/<int:consent_id>/remove-album/",
        connected_apps.consent_remove_album_view,
        name="account-app-remove-album",
    ),
    path(
        "account/apps/<int:consent_id>/remove-scopes/",
        connected_apps.consent_remove_scopes_view,
        name="account-app-narrow",
    ),
    # Tenant app policy and access requests (scopes.tenant_policy).
    path("account/requests/", policy_views.my_requests, name="account-requests"),
    path("account/requests/new/", policy_views.request_new, name="account-request-new"),
    path("account/org/<slug:slug>/", policy_views.org_admin, name="org-admin"),
    path("account/org/<slug:slug>/policy/", policy_views.org_policy, name="org-policy"),
    path(
        "account/org/<slug:slug>/invitations/",
        limit_posts(signed_in_limits("invitation-user"))(policy_views.org_invite),
        name="org-invite",
    ),
    path(
        "account/org/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        policy_views.org_invitation_revoke,
        name="org-invitation-revoke",
    ),
    path("account/join/<slug:slug>/<str:token>/", policy_views.join, name="join"),
    path(
        "account/org/<slug:slug>/members/<int:user_id>/factors/reset/",
        policy_views.org_member_factors_reset,
        name="org-member-factors-reset",
    ),
    path("account/org/<slug:slug>/apps/", policy_views.org_app, name="org-app"),
    path("account/org/<slug:slug>/domains/", policy_views.org_domains, name="org-domains"),
    path(
        "account/org/<slug:slug>/requests/<int:request_id>/decide/",
        policy_views.org_decide,
        name="org-request-decide",
    ),
]
