"""URL wiring only: each app owns its own routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerView,
)

from scopes.api.schema import swagger_oauth2_redirect
from scopes.explain import explain_access
from scopes.views import POPUP_OPENER, POPUP_PAGE

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="account-apps", permanent=False)),
    path("admin/explain/", explain_access, name="admin-explain"),
    path("admin/", admin.site.urls),
    path("", include("scopes.urls")),
    path("api/t/<slug:tenant_slug>/", include("photos.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", POPUP_OPENER(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "api/docs/oauth2-redirect.html", POPUP_PAGE(swagger_oauth2_redirect), name="api-docs-oauth2-redirect"
    ),
]
