"""The implication graph: closure, normal form, cycles and the reach of role grants."""

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from scopes.registry import closure, find_cycle, grant_reaches, normalise

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
