"""Routes under `/api/t/<tenant_slug>/` (mounted by project/urls.py)."""

from django.urls import path

from photos.api.views import AlbumViewSet, MeView, PhotoViewSet

photo_list = PhotoViewSet.as_view({"get": "list", "post": "create"})
photo_detail = PhotoViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
photo_image = PhotoViewSet.as_view({"get": "image"})
album_list = AlbumViewSet.as_view({"get": "list", "post": "create"})
album_detail = AlbumViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    path("photos/", photo_list, name="photo-list"),
    path("photos/<str:pk>/", photo_detail, name="photo-detail"),
    path("photos/<str:pk>/image", photo_image, name="photo-image"),
    path("albums/", album_list, name="album-list"),
    path("albums/<str:pk>/", album_detail, name="album-detail"),
    path("me/", MeView.as_view(), name="me"),
]
