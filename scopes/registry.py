"""Pure functions over the scope implication graph: closure, normal form, cycles, grant reach.

They take plain mappings (scope name -> names it directly implies) so the decision function,
the consent page and the admin can all use them without touching the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from scopes.constants import Reach

Implications = Mapping[str, Iterable[str]]

_REACH_RANK = {Reach.OWN: 1, Reach.TENANT: 2}


def closure(scopes: Iterable[str], implications: Implications) -> frozenset[str]:
    """Every scope the given ones contain, themselves included (implication is transitive)."""
    seen: set[str] = set()
    stack = list(scopes)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(implications.get(name, ()))
    return frozenset(seen)


def normalise(scopes: Iterable[str], implications: Implications) -> list[str]:
    """Drop every scope implied by another one in the set; sorted for stable output.

    `photos.write photos.delete` becomes `photos.write`, as GitHub drops `public_repo`
    beside `repo`.
    """
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
    reaches: dict[str, str] = {}
    for scope, reach in grants:
        for covered in closure([scope], implications):
            widest = wider_reach(reaches.get(covered), reach)
            assert widest is not None
            reaches[covered] = widest
    return reaches
