"""The implication graph: closure, normal form, cycles and the reach of role grants."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopes.registry import ImplicationGraph, closure, find_cycle, grant_reaches, implied_by, normalise

GRAPH = {
    "photos.write": {"photos.upload", "photos.update", "photos.delete", "photos.read"},
    "albums.write": {"albums.read"},
    "everything": {"photos.write", "albums.write"},
}


def test_closure_is_transitive():
    assert closure(["everything"], GRAPH) == {
        "everything",
        "photos.write",
        "photos.upload",
        "photos.update",
        "photos.delete",
        "photos.read",
        "albums.write",
        "albums.read",
    }


def test_closure_of_a_leaf_is_itself():
    assert closure(["photos.read"], GRAPH) == {"photos.read"}


def test_normalise_drops_implied_scopes():
    assert normalise(["photos.write", "photos.delete", "albums.read"], GRAPH) == [
        "albums.read",
        "photos.write",
    ]
    assert normalise(["everything", "albums.read", "photos.read"], GRAPH) == ["everything"]


def test_find_cycle_names_the_cycle():
    assert find_cycle(GRAPH) is None
    cyclic = {**GRAPH, "photos.read": {"everything"}}
    cycle = find_cycle(cyclic)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert "photos.read" in cycle and "everything" in cycle


def test_self_implication_is_a_cycle():
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_grant_of_composite_covers_its_parts_with_the_same_reach():
    reaches = grant_reaches([("photos.write", "own")], GRAPH)
    assert reaches["photos.delete"] == "own"
    assert reaches["photos.read"] == "own"
    assert "albums.read" not in reaches


def test_wider_reach_wins_when_two_grants_cover_a_scope():
    reaches = grant_reaches([("photos.write", "own"), ("photos.read", "tenant")], GRAPH)
    assert reaches["photos.read"] == "tenant"
    assert reaches["photos.delete"] == "own"


names = st.sampled_from(["a", "b", "c", "d", "e", "f"])
dags = st.dictionaries(names, st.sets(names, max_size=3), max_size=6)


@given(dags, st.sets(names, max_size=4))
def test_closure_and_normal_form_agree(graph, scopes):
    if find_cycle(graph):
        return
    normal = normalise(scopes, graph)
    # The normal form loses nothing: it covers exactly what the original set covers...
    assert closure(normal, graph) == closure(scopes, graph)
    # ...and no member of it is implied by another member.
    for name in normal:
        others = [n for n in normal if n != name]
        assert name not in closure([c for o in others for c in graph.get(o, ())], graph)


@given(dags)
def test_find_cycle_returns_a_real_cycle(graph):
    cycle = find_cycle(graph)
    if cycle is None:
        return
    assert cycle[0] == cycle[-1]
    for a, b in pairwise(cycle):
        assert b in graph[a]


reaches = st.sampled_from(["own", "tenant"])


@given(dags, st.sets(names, max_size=4), st.lists(st.tuples(names, reaches), max_size=4))
def test_a_snapshots_graph_answers_as_the_plain_mapping_does_every_time(graph, scopes, grants):
    """The registry's graph remembers its answers (scopes.registry.ImplicationGraph): asked twice,
    and in any form, it answers exactly what the computation over a plain mapping answers."""
    if find_cycle(graph):
        return
    held = ImplicationGraph(graph)
    for _ in range(2):  # computed, then remembered
        assert closure(scopes, held) == closure(scopes, graph)
        assert closure(list(scopes), held) == closure(scopes, graph)
        assert normalise(scopes, held) == normalise(scopes, graph)
        assert grant_reaches(grants, held) == grant_reaches(grants, graph)
        for name in scopes:
            assert implied_by(name, held) == implied_by(name, graph)
            assert all(name in closure([wider], graph) for wider in implied_by(name, held))
    assert dict(held) == {name: frozenset(targets) for name, targets in graph.items()}


def test_what_a_graph_remembers_cannot_be_changed_by_a_caller():
    held = ImplicationGraph(GRAPH)
    normal = normalise(["photos.write", "photos.read"], held)
    normal.append("everything")
    reaches = grant_reaches([("photos.write", "own")], held)
    reaches["everything"] = "tenant"
    assert normalise(["photos.write", "photos.read"], held) == ["photos.write"]
    assert "everything" not in grant_reaches([("photos.write", "own")], held)
    with pytest.raises(TypeError):
        held["albums.read"] = frozenset({"photos.delete"})  # type: ignore[index]


def test_a_full_memo_starts_again_and_still_answers_right(monkeypatch):
    """Requests choose some of the sets asked about: whoever fills the memo with rare sets must not
    keep the common ones out for the life of the registry, nor grow it without bound."""
    monkeypatch.setattr("scopes.registry.MEMO_LIMIT", 3)
    held = ImplicationGraph(GRAPH)
    sets = [["photos.read"], ["albums.read"], ["albums.write"], ["everything"], ["photos.write"]]
    for _ in range(2):
        for scopes in sets:
            assert closure(scopes, held) == closure(scopes, GRAPH)
            assert len(held._closures) <= 3
    assert frozenset(["photos.write"]) in held._closures  # the latest is kept
