"""Scenario (c): an album-limited token (RFC 9396 grants) against bare, on the same rows.

Half of the main tenant's photos go into one album of the main token's Member; a token limited to
that album lists them through the product (`/api/t/main/photos/`, the decision's album step and its
list filter), bare lists the same rows with a plain `album_id` filter and no authorization. Both
answer the same page (checked before the load). The photos leave the album after the scenario, so
the phases that follow see the tenant as seeded.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db.models import QuerySet

from bench.seed import MAIN, Seeded, analyze
from bench.views import SameRowsView

BARE_PATH = "/bench/bare-album/t/{slug}/photos/"


class BareAlbumPhotoList(SameRowsView):
    """Bare, narrowed to `?album=<id>`: the rows an album-limited token lists."""

    authentication_classes = []
    permission_classes = []

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().filter(album_id=int(self.request.query_params.get("album", "0")))


def prepare(seeded: Seeded) -> tuple[int, str]:
    """The album (half the main tenant's photos) and a raw token limited to it: (album id, token)."""
    from django.db import connection, transaction
    from django.utils import timezone
    from oauth2_provider.models import set_token_value

    from photos.models import Album
    from scopes.models import AccessToken, Consent, ConsentAlbum

    checksum = hashlib.sha256(seeded.tokens[MAIN].encode()).hexdigest()
    with transaction.atomic():
        main = AccessToken.objects.get(token_checksum=checksum)
        album = Album.objects.create(tenant_id=main.tenant_id, owner_id=main.user_id, name="Bench album")
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE photos_photo SET album_id = %s WHERE tenant_id = %s AND id %% 2 = 0",
                [album.pk, main.tenant_id],
            )
        assert main.user_id is not None  # the bench's tokens all have a user
        consent = Consent.objects.get(
            user_id=main.user_id, tenant_id=main.tenant_id, application_id=seeded.app_id
        )
        ConsentAlbum.objects.create(tenant_id=main.tenant_id, consent=consent, object_id=album.pk)
        raw = secrets.token_urlsafe(32)
        token = AccessToken(
            user_id=main.user_id,
            tenant_id=main.tenant_id,
            application_id=seeded.app_id,
            expires=timezone.now() + (main.expires - main.created),
            scope=main.scope,
            albums=str(album.pk),
        )
        set_token_value(token, raw)  # stored as DOT stores it: the checksum only
        token.save()
    # Half the tenant's photos just moved: without fresh statistics the planner reads the album's
    # page through the single-column album index and sorts 50,000 rows (issue 26).
    analyze("photos_photo", "scopes_accesstoken")
    return album.pk, raw


def finish(album_id: int) -> None:
    """Put the photos back outside any album (the album and its token stay, unused)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE photos_photo SET album_id = NULL WHERE album_id = %s", [album_id])
    analyze("photos_photo")
