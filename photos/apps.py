from django.apps import AppConfig


class PhotosConfig(AppConfig):
    """The protected resource: photos and albums."""

    name = "photos"

    def ready(self) -> None:
        from photos.selectors import register_resources

        register_resources()
