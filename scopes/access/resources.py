"""Protected resources make themselves known to the permission layer, which never imports them.

A resource app registers, at start-up, its kind, the scope that decides who sees its objects and
how to find one object's tenant and owner. The admin's "explain" page uses this to judge a request
on a real object exactly as the API would.

A kind that authorization details name (RFC 9396: `album`) also says where its rows are, so that
the standing's one query can tell which of a consent's objects still exist in its tenant and who
owns them (scopes.access.rows), and how a person sees them on the consent and connected-apps pages.
The authorization server stores such a limit as (kind, identifier) and never names the resource's
table itself: the resource app does, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectFacts:
    """Where an object lives and who owns it."""

    tenant_id: int
    owner_id: int | None
    album_id: int | None = None  # the album it is, or is in (album limits, scopes.access.albums)


# One object as a person picks it on the consent page: (id, name, owner id, owner's username).
Listed = tuple[int, str, int, str]


@dataclass(frozen=True)
class Rows:
    """Where a kind's rows are, and how a page shows them (kinds that authorization details name).

    `table` has the columns `id`, `tenant_id` and `owner_column`; `listing(tenant_id)` is every
    object of a tenant in the order a page shows them; `names(ids)` their names, in one query.
    """

    table: str
    owner_column: str
    listing: Callable[[int], list[Listed]]
    names: Callable[[Iterable[int]], dict[int, str]]


@dataclass(frozen=True)
class Resource:
    """One kind of protected object (a photo, an album)."""

    kind: str
    label: str
    read_scope: str
    locate: Callable[[int], ObjectFacts | None]
    rows: Rows | None = None


_RESOURCES: dict[str, Resource] = {}


def register_resource(resource: Resource) -> None:
    _RESOURCES[resource.kind] = resource


def registered_resources() -> dict[str, Resource]:
    return dict(_RESOURCES)


def rows_of(kind: str) -> Rows | None:
    """Where a kind's rows are, or None when no installed app serves it (its limits then reach nothing)."""
    resource = _RESOURCES.get(kind)
    return resource.rows if resource is not None else None
