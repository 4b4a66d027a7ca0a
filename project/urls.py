"""URL wiring only: each app owns its own routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from accounts.views import admin_sign_in
from scopes.admin.explain import explain_access
from scopes.api.schema import swagger_oauth2_redirect
from scopes.oauth.popup import POPUP_OPENER, POPUP_PAGE

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="account-apps", permanent=False)),
    path("admin/explain/", explain_access, name="admin-explain"),
    path("admin/login/", admin_sign_in),  # the admin's own sign-in, rate limited like /account/login/
    path("admin/", admin.site.urls),
    path("", include("scopes.urls")),
    path("api/t/<slug:tenant_slug>/", include("photos.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, strict CSP.
    path(
        "api/docs/",
        POPUP_OPENER(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "api/docs/oauth2-redirect.html", POPUP_PAGE(swagger_oauth2_redirect), name="api-docs-oauth2-redirect"
    ),
]
