"""Album-limited grants for tests: what the consent page and the token endpoint leave behind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from scopes.access.albums import format_limit
from scopes.models import AccessToken, Consent, ConsentAlbum


def limit(token: AccessToken, albums: Iterable[int]) -> AccessToken:
    """Make `token` album-limited to `albums`, and its consent hold them (as a consent page would)."""
    albums = list(albums)
    consent = Consent.objects.get(user=token.user, tenant=token.tenant, application=token.application)
    Consent.objects.filter(pk=consent.pk).update(albums_limited=True)  # as granting albums does
    for album in albums:
        ConsentAlbum.all_tenants.get_or_create(tenant=token.tenant, consent=consent, object_id=album)
    token.albums = format_limit(albums)
    token.save(update_fields=["albums"])
    return token


def details(actions: Iterable[str], identifiers: Iterable[int] | None = None) -> str:
    """An `authorization_details` parameter with one album entry."""
    entry: dict[str, object] = {"type": "album", "actions": list(actions)}
    if identifiers is not None:
        entry["identifiers"] = [str(i) for i in identifiers]
    return json.dumps([entry])


def album_boxes(html: str) -> dict[int, bool]:
    """The album checkboxes of a consent page: id -> enabled."""
    found = {}
    for tag in re.findall(r'<input type="checkbox" name="album"[^>]*>', html):
        album = int(re.search(r'value="(\d+)"', tag).group(1))
        found[album] = " disabled" not in tag
    return found
