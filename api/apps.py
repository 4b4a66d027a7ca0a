"""The API framework every resource API builds on (the photo API, the audit read API)."""

from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """No models: an app only so that the OpenAPI security scheme is registered at start-up."""

    name = "api"
    verbose_name = "API framework"

    def ready(self) -> None:
        from api import schema  # noqa: F401  (registers the OpenAPI security scheme)
