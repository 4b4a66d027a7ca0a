"""Protected resources make themselves known to the permission layer, which never imports them.

A resource app registers, at start-up, its kind, the scope that decides who sees its objects and
how to find one object's tenant and owner. The admin's "explain" page uses this to judge a request
on a real object exactly as the API would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectFacts:
    """Where an object lives and who owns it."""

    tenant_id: int
    owner_id: int | None


@dataclass(frozen=True)
class Resource:
    """One kind of protected object (a photo, an album)."""

    kind: str
    label: str
    read_scope: str
    locate: Callable[[int], ObjectFacts | None]


_RESOURCES: dict[str, Resource] = {}


def register_resource(resource: Resource) -> None:
    _RESOURCES[resource.kind] = resource


def registered_resources() -> dict[str, Resource]:
    return dict(_RESOURCES)
