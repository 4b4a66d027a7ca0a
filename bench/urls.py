"""The product's URLs, then the two comparison variants under /bench/.

The variants come last, so resolving their URLs costs at least what resolving the product's does.
"""

from django.urls import path

from bench.albums import BareAlbumPhotoList
from bench.views import BarePhotoList, DotPhotoList
from project.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("bench/bare/t/<slug:tenant_slug>/photos/", BarePhotoList.as_view(), name="bench-bare"),
    path("bench/dot/t/<slug:tenant_slug>/photos/", DotPhotoList.as_view(), name="bench-dot"),
    path(
        "bench/bare-album/t/<slug:tenant_slug>/photos/", BareAlbumPhotoList.as_view(), name="bench-bare-album"
    ),
]
