"""The scope registry as this process holds it: consent texts and implications, fresh by epoch.

Its own module so that the standing (which needs the implications) and the selectors (which build
contexts from the standing) both read it without importing each other. Why a copy can never be
stale: `registry_at` below, and `docs/performance.md`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from django.db import connection

from accounts.authn import Requirement, strongest
from scopes.access.freshness import EPOCH_TABLE
from scopes.models import Scope
from scopes.registry import ImplicationGraph, closure

_R = TypeVar("_R")


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole scope registry: consent texts and the direct implication graph."""

    descriptions: dict[str, str]
    implications: ImplicationGraph  # read-only: what is computed over it is kept (scopes.registry)
    # What each scope needs of the sign-in (step-up); scopes that need nothing are absent.
    requirements: dict[str, Requirement] = field(default_factory=dict)

    def requirement_for(self, names: Iterable[str]) -> Requirement:
        """What using (or consenting to) these scopes needs of the sign-in: the strongest over their
        closure, so a scope that implies a demanding one is as demanding."""
        covered = closure(names, self.implications)
        return strongest(self.requirements[name] for name in covered if name in self.requirements)


_local_registry: tuple[object, RegistrySnapshot] | None = None
_registry_lock = threading.Lock()


def _build_registry() -> RegistrySnapshot:
    # One query: each scope once per scope it implies (once with None when it implies none).
    descriptions: dict[str, str] = {}
    graph: dict[str, set[str]] = defaultdict(set)
    requirements: dict[str, Requirement] = {}
    rows = Scope.objects.values_list("name", "description", "implies__name", "required_acr", "max_age")
    for name, description, implied, acr, max_age in rows:
        descriptions[name] = description
        if implied is not None:
            graph[name].add(implied)
        if acr or max_age is not None:
            requirements[name] = Requirement(acr=acr, max_age=max_age)
    return RegistrySnapshot(
        descriptions, ImplicationGraph({name: graph.get(name, ()) for name in descriptions}), requirements
    )


def registry_version() -> object:
    """The registry's epoch: a value database triggers change with every scope or implication write."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT scopes_registry_version()")
        else:
            cursor.execute(f"SELECT value FROM {EPOCH_TABLE} WHERE id = 1")  # noqa: S608 (a constant name)
        row = cursor.fetchone()
    return row[0] if row else None


def registry_at(version: object) -> RegistrySnapshot:
    """The registry as of epoch `version` (read by the caller): this process's copy, or one query.

    The rows are read after the epoch was, so a copy can only be newer than its epoch says; the
    next epoch read then differs and the copy is built again (`scopes.access.freshness`).
    """
    global _local_registry
    local = _local_registry
    if version is not None and local is not None and local[0] == version:
        return local[1]
    snapshot = _build_registry()
    if version is not None:
        with _registry_lock:
            _local_registry = (version, snapshot)
    return snapshot


# A snapshot held for the length of one request (`registry_held`): every step of it then sees
# the same registry, and the epoch is read once instead of once per step. The box is empty until
# the first step asks, so a request that never needs the registry (a refused client) reads nothing.
_held: ContextVar[list[RegistrySnapshot] | None] = ContextVar("held_registry", default=None)


def registry() -> RegistrySnapshot:
    """The registry, fresh: one small statement reads the epoch; rebuilt (one query) after a change."""
    box = _held.get()
    if box is None:
        return registry_at(registry_version())
    if not box:
        box.append(registry_at(registry_version()))
    return box[0]


def epoch_read(version: object) -> None:
    """A statement of this request also read the registry epoch (the grant rows carry it,
    `scopes.access.rows`): inside a held block that has not read the registry yet, that read is
    the block's, so the block spends no statement of its own on it. Elsewhere nothing changes."""
    box = _held.get()
    if box is not None and not box and version is not None:
        box.append(registry_at(version))


@contextmanager
def registry_held() -> Iterator[None]:
    """Let every `registry()` inside the block answer with the first one's read.

    For one request that runs in one transaction (the consent page, the token, introspection and
    revocation endpoints: their own steps, DOT's validation and the services they call): a scope
    edit committed meanwhile is seen by the next request, exactly as if it had been committed a
    moment later.
    """
    if _held.get() is not None:  # already held by an outer block: one read for the request
        yield
        return
    token = _held.set([])
    try:
        yield
    finally:
        _held.reset(token)


def forget_registry() -> None:
    """Drop this process's copy (tests; never needed for correctness)."""
    global _local_registry
    _local_registry = None


def implication_graph() -> dict[str, set[str]]:
    """Scope name -> names it directly implies, fresh from the database (for edits that must see it)."""
    return {name: set(targets) for name, targets in _build_registry().implications.items()}


def holding_registry(view: Callable[..., _R]) -> Callable[..., _R]:
    """`view` with the registry held for its request (`registry_held`): the OAuth endpoints."""

    @wraps(view)
    def held(*args: Any, **kwargs: Any) -> _R:
        with registry_held():
            return view(*args, **kwargs)

    return held
