"""Reads of photos and albums that the API needs beyond the base viewset's tenant-and-reach filter."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connection
from django.db.models import F, QuerySet

from accounts.models import User
from photos.models import Album, Photo
from scopes.access.resources import Listed, ObjectFacts, Resource, Rows, register_resource
from scopes.constants import ScopeName


def _owner_shown_only(prefix: str = "owner__") -> list[str]:
    # A row shows its owner's id and username; the rest of the user (password hash included) stays
    # in the database instead of being parsed for every row of every page.
    return [f"{prefix}{f.name}" for f in User._meta.concrete_fields if f.name not in {"id", "username"}]


def photo_base_queryset() -> QuerySet[Photo]:
    """Photos with what a list row shows loaded in the same query (no N+1 on owner)."""
    return Photo.objects.select_related("owner").defer(*_owner_shown_only())


# The column a listed row carries its owner's username in (`photos_listed`, `PhotoSerializer`).
OWNER_USERNAME = "owner_username"


def photos_listed(queryset: QuerySet[Photo]) -> QuerySet[Photo]:
    """A list page's rows: each owner's username read as a column of the row (`OWNER_USERNAME`),
    through the same join, instead of a `User` built for every row.

    The page stays one query and shows the same (`PhotoSerializer`). Building a deferred `User`
    per row cost about a quarter of the page's client CPU (a 51-row page: 1,656 µs with the
    owners built, 1,279 µs with the column, in one process). A single photo keeps its owner
    loaded (`photo_base_queryset`): what acts on one photo may need the owner itself.

    It drops the owner's join and the deferrals of the owner's columns, which are all that
    `photo_base_queryset` sets: `select_related(None)` and `defer(None)` clear every one, so a
    later deferral of a photo's own column or another `select_related` would have to be set
    again here (`test_a_list_page_reads_the_owners_username_and_nothing_else_of_the_owner`
    holds the page's columns).
    """
    return queryset.select_related(None).defer(None).annotate(**{OWNER_USERNAME: F("owner__username")})


def album_base_queryset() -> QuerySet[Album]:
    """Albums with their owner loaded in the same query."""
    return Album.objects.select_related("owner").defer(*_owner_shown_only())


def photos_filtered(
    queryset: QuerySet[Photo], *, albums: QuerySet[Album] | None, owner_id: int | None
) -> QuerySet[Photo]:
    """Narrow an already tenant-and-reach-restricted queryset to photos in `albums` and of an owner.

    `albums` is the caller's *readable* albums narrowed to the one asked for (a subquery, so the
    page stays one statement): an album the caller cannot see then matches no photo, as one that
    does not exist.
    """
    if albums is not None:
        queryset = queryset.filter(album__in=albums.values("pk"))
    if owner_id is not None:
        queryset = queryset.filter(owner_id=owner_id)
    return queryset


def _locator(model: type[Photo] | type[Album]) -> Callable[[int], ObjectFacts | None]:
    def locate(pk: int) -> ObjectFacts | None:
        # Unscoped on purpose: the admin's explain page asks where an object lives, so the
        # decision can answer "another tenant's object" exactly as the API does (404).
        album = "id" if model is Album else "album_id"  # the album it is, or is in (album limits)
        row = model.all_tenants.filter(pk=pk).values("tenant_id", "owner_id", album).first()
        return ObjectFacts(row["tenant_id"], row["owner_id"], row[album]) if row else None

    return locate


ALBUM_TABLE = "photos_album"
_TENANT_ALBUMS = """
SELECT a.id, a.name, a.owner_id, u.username FROM photos_album a
JOIN accounts_user u ON u.id = a.owner_id
WHERE a.tenant_id = %s ORDER BY a.name, a.id
"""


def albums_listed(tenant_id: int) -> list[Listed]:
    """Every album of a tenant with its owner's id and username, by name (the consent page's list).

    One statement, not the tenant-guarded manager: the consent page reads it inside the tenant the
    person is a member of, and row-level security scopes it there on PostgreSQL.
    """
    with connection.cursor() as cursor:
        cursor.execute(_TENANT_ALBUMS, [tenant_id])
        return [(row[0], row[1], row[2], row[3]) for row in cursor.fetchall()]


def album_names(ids: Iterable[int]) -> dict[int, str]:
    """Album names by id, in one statement (connected apps: only albums of tenants entered are seen)."""
    wanted = list(ids)
    marks = ", ".join(["%s"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name FROM photos_album WHERE id IN ({marks})", wanted)  # noqa: S608 (placeholders only)
        return dict(cursor.fetchall())


def register_resources() -> None:
    """Tell the permission layer about photos and albums (it never imports this app).

    Albums are what album limits name (RFC 9396 `album` authorization details): the standing reads
    which of a consent's albums still exist in its tenant, and their owners, from this table.
    """
    register_resource(Resource("photo", "Photo", ScopeName.PHOTOS_READ, _locator(Photo)))
    album_rows = Rows(table=ALBUM_TABLE, owner_column="owner_id", listing=albums_listed, names=album_names)
    register_resource(Resource("album", "Album", ScopeName.ALBUMS_READ, _locator(Album), rows=album_rows))
