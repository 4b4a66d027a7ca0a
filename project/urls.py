"""URL wiring only: each app owns its own routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="account-apps", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("scopes.urls")),
]
