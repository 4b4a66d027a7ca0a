from django.apps import AppConfig


class PhotosConfig(AppConfig):
    """The protected resource: photos and albums."""

    name = "photos"
