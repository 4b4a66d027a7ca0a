"""Pure functions over the scope implication graph: closure, normal form, cycles, grant reach.

They take plain mappings (scope name -> names it directly implies) so the decision function,
the consent page and the admin can all use them without touching the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from scopes.constants import Reach

Implications = Mapping[str, Iterable[str]]

_REACH_RANK = {Reach.OWN: 1, Reach.TENANT: 2}

# Answers remembered per graph, at most this many of each kind: the sets asked about are subsets of
# the registry (token scopes, consents, apps' allowed scopes, role grants), few in practice; past
# the bound the memo starts again.
MEMO_LIMIT = 4096


class ImplicationGraph(Mapping[str, frozenset[str]]):
    """A registry snapshot's implication graph: read-only, so what is computed over it is kept.

    Every request's decision computes closures and grant reaches over the same few sets of scopes
    (the token's, the consent's, the app's, the role's), and the graph they are computed over
    never changes: a registry change builds a new snapshot, with a new graph and nothing
    remembered (`scopes.access.scope_registry.registry_at`). So each answer is computed once per
    graph and process. The graph cannot be written to (no `__setitem__`), which is what makes a
    remembered answer always the answer; a plain mapping passed to the functions below is
    computed over every time, as before.
    """

    __slots__ = ("_closures", "_edges", "_implied_by", "_normal", "_reaches")

    def __init__(self, edges: Mapping[str, Iterable[str]]) -> None:
        self._edges: dict[str, frozenset[str]] = {name: frozenset(targets) for name, targets in edges.items()}
        self._closures: dict[frozenset[str], frozenset[str]] = {}
        self._normal: dict[frozenset[str], tuple[str, ...]] = {}
        self._reaches: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._implied_by: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, name: str) -> frozenset[str]:
        return self._edges[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._edges)

    def __len__(self) -> int:
        return len(self._edges)

    def __contains__(self, name: object) -> bool:
        return name in self._edges

    def get(self, name: str, default: Any = None) -> Any:
        return self._edges.get(name, default)

    def __repr__(self) -> str:
        return f"ImplicationGraph({self._edges!r})"


def _remembered(memo: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
    found = memo.get(key)
    if found is None:
        found = compute()
        if len(memo) >= MEMO_LIMIT:
            # Requests choose some of these sets (the scopes an app asks for): whoever fills the memo
            # with rare ones must not keep the common ones out, so it starts again.
            memo.clear()
        memo[key] = found
    return found


def closure(scopes: Iterable[str], implications: Implications) -> frozenset[str]:
    """Every scope the given ones contain, themselves included (implication is transitive)."""
    if isinstance(implications, ImplicationGraph):
        key = scopes if isinstance(scopes, frozenset) else frozenset(scopes)
        return _remembered(implications._closures, key, lambda: _closure(key, implications._edges))
    return _closure(scopes, implications)


def _closure(scopes: Iterable[str], implications: Implications) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(scopes)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(implications.get(name, ()))
    return frozenset(seen)


def implied_by(scope: str, implications: Implications) -> list[str]:
    """Every scope that contains `scope` (itself included), sorted: what would satisfy it."""
    if isinstance(implications, ImplicationGraph):
        return list(
            _remembered(implications._implied_by, scope, lambda: tuple(_implied_by(scope, implications)))
        )
    return _implied_by(scope, implications)


def _implied_by(scope: str, implications: Implications) -> list[str]:
    names = set(implications) | {scope}
    return sorted(name for name in names if scope in closure([name], implications))


def normalise(scopes: Iterable[str], implications: Implications) -> list[str]:
    """Drop every scope implied by another one in the set; sorted for stable output.

    `photos.write photos.delete` becomes `photos.write`, as GitHub drops `public_repo`
    beside `repo`.
    """
    if isinstance(implications, ImplicationGraph):
        key = frozenset(scopes)
        return list(_remembered(implications._normal, key, lambda: tuple(_normalise(key, implications))))
    return _normalise(scopes, implications)


def _normalise(scopes: Iterable[str], implications: Implications) -> list[str]:
    given = set(scopes)
    redundant: set[str] = set()
    for name in given:
        redundant |= closure(implications.get(name, ()), implications) & given
    return sorted(given - redundant)


def find_cycle(implications: Implications) -> list[str] | None:
    """Return one cycle as a path (`a -> b -> a` as ['a', 'b', 'a']), or None if acyclic."""
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    for start in sorted(implications):
        if colour.get(start, white) != white:
            continue
        path: list[str] = []
        # Iterative DFS so a long chain cannot hit the recursion limit.
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(implications.get(start, ()))))]
        colour[start] = grey
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = black
                stack.pop()
                path.pop()
                continue
            state = colour.get(child, white)
            if state == grey:
                return [*path[path.index(child) :], child]
            if state == white:
                colour[child] = grey
                path.append(child)
                stack.append((child, iter(sorted(implications.get(child, ())))))
    return None


def wider_reach(a: str | None, b: str | None) -> str | None:
    """The wider of two reaches (`tenant` beats `own`); None means no grant."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _REACH_RANK[Reach(a)] >= _REACH_RANK[Reach(b)] else b


def grant_reaches(grants: Iterable[tuple[str, str]], implications: Implications) -> dict[str, str]:
    """Map every scope a role covers to its reach.

    A grant of a scope covers everything it implies with the same reach; when two grants
    cover one scope the wider reach wins.
    """
    if isinstance(implications, ImplicationGraph):
        key = tuple(grants)
        return dict(_remembered(implications._reaches, key, lambda: _grant_reaches(key, implications)))
    return _grant_reaches(grants, implications)


def _grant_reaches(grants: Iterable[tuple[str, str]], implications: Implications) -> dict[str, str]:
    reaches: dict[str, str] = {}
    for scope, reach in grants:
        for covered in closure([scope], implications):
            widest = wider_reach(reaches.get(covered), reach)
            assert widest is not None
            reaches[covered] = widest
    return reaches
