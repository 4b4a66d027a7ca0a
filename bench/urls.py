"""The product's URLs, then the comparison variants under /bench/.

The variants come last, so resolving their URLs costs at least what resolving the product's does.
The do-it-yourself variant is there only where django-guardian is installed (bench.settings).
"""

from django.apps import apps
from django.urls import path

from bench import oauth
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
    # Stock DOT's OAuth endpoints (bench/oauth.py), in the URL's tenant.
    path("bench/dot/t/<slug:tenant_slug>/o/token/", oauth.StockTokenView.as_view(), name="bench-dot-token"),
    path(
        "bench/dot/t/<slug:tenant_slug>/o/revoke_token/",
        oauth.StockRevokeTokenView.as_view(),
        name="bench-dot-revoke",
    ),
    path(
        "bench/dot/t/<slug:tenant_slug>/o/introspect/",
        oauth.StockIntrospectTokenView.as_view(),
        name="bench-dot-introspect",
    ),
]

if apps.is_installed("guardian"):
    from bench.diy import DiyPhotoList

    urlpatterns.append(
        path("bench/diy/t/<slug:tenant_slug>/photos/", DiyPhotoList.as_view(), name="bench-diy")
    )
