"""URL wiring only: each app owns its own routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from accounts.views import admin_sign_in
from api.audit import AuditEventsView
from api.resource_metadata import AUDIT_API, PHOTO_API, USERINFO, ProtectedResourceMetadataView
from api.schema import swagger_oauth2_redirect
from scopes.admin.explain import explain_access
from scopes.oauth.popup import POPUP_OPENER, POPUP_PAGE
from scopes.roles.grid import role_grid
from scopes.usage.views import usage_report_view

# Every uncaught error, from a view or a middleware: a 503 while the database is down, JSON for API
# clients (project/errors.py).
# The admin says whose it is (Django's default header is "Django administration").
admin.site.site_header = "Granular Photos administration"
admin.site.site_title = "Granular Photos admin"
admin.site.index_title = "Permissions, people and apps"

handler500 = "project.errors.server_error"
# Django's own 4xx answers (no route, a host not allowed, PermissionDenied): JSON for API clients too.
handler404 = "project.errors.page_not_found"
handler400 = "project.errors.bad_request"
handler403 = "project.errors.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="account-apps", permanent=False)),
    path("admin/explain/", explain_access, name="admin-explain"),
    path("admin/usage/", usage_report_view, name="admin-usage"),
    path("admin/roles/grid/", role_grid, name="admin-role-grid"),
    path("admin/login/", admin_sign_in),  # the admin's own sign-in, rate limited like /account/login/
    path("admin/", admin.site.urls),
    path("", include("scopes.urls")),
    # RFC 9728: the host's document, each tenant's photo API's and audit API's, and userinfo's (path form).
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/api/t/<slug:tenant_slug>/",
        ProtectedResourceMetadataView.as_view(resource_kind=PHOTO_API),
        name="resource-metadata-photos",
    ),
    path(
        ".well-known/oauth-protected-resource/api/t/<slug:tenant_slug>/audit/",
        ProtectedResourceMetadataView.as_view(resource_kind=AUDIT_API),
        name="resource-metadata-audit",
    ),
    path(
        ".well-known/oauth-protected-resource/o/userinfo/",
        ProtectedResourceMetadataView.as_view(resource_kind=USERINFO),
        name="resource-metadata-userinfo",
    ),
    path("api/t/<slug:tenant_slug>/audit/", AuditEventsView.as_view(), name="audit-events"),
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
