"""The intersection rule, as pure functions: granted = requested ∩ app ∩ role ∩ ticked."""

from hypothesis import given, settings
from hypothesis import strategies as st

from scopes.access.applications import AppScope
from scopes.consent.rules import cap_scopes, plan_consent
from scopes.registry import closure

GRAPH = {
    "photos.write": frozenset({"photos.upload", "photos.update", "photos.delete", "photos.read"}),
    "albums.write": frozenset({"albums.read"}),
}
NAMES = [
    "profile.read",
    "photos.read",
    "photos.upload",
    "photos.update",
    "photos.delete",
    "photos.write",
    "albums.read",
    "albums.write",
    "offline_access",
]
DESCRIPTIONS = {n: f"Do {n}" for n in NAMES}
LEAVES = [n for n in NAMES if n not in GRAPH]


def plan(requested, *, app, role, previous=(), required=()):
    return plan_consent(
        requested=requested,
        app_scopes={n: AppScope(required=n in required) for n in app},
        role_covered=frozenset(role),
        implications=GRAPH,
        descriptions=DESCRIPTIONS,
        previously_granted=previous,
        role_label="Guest",
        tenant_label="Acme",
    )


def test_cap_keeps_whole_composites_and_splits_partial_ones():
    everything = closure(NAMES, GRAPH)
    assert cap_scopes(["photos.write"], allowed=everything, implications=GRAPH) == ["photos.write"]
    assert cap_scopes(["photos.write"], allowed={"photos.read", "photos.delete"}, implications=GRAPH) == [
        "photos.delete",
        "photos.read",
    ]
    assert cap_scopes(["photos.write", "albums.read"], allowed=set(), implications=GRAPH) == []


def test_guest_plan_offers_read_and_explains_the_rest():
    p = plan(["photos.write", "albums.read"], app=NAMES, role={"photos.read", "albums.read"})
    assert [line.name for line in p.offered] == ["photos.read", "albums.read"]
    assert p.offered[0].part_of == "photos.write"
    assert [line.name for line in p.unavailable] == ["photos.write"]
    assert "Your role Guest in Acme does not allow this" in p.unavailable[0].why_unavailable


def test_scopes_outside_the_app_are_never_offered():
    p = plan(["photos.read", "albums.read"], app=["photos.read"], role=NAMES)
    assert p.offered_names == {"photos.read"}
    assert p.granted(["photos.read", "albums.read"]) == ["photos.read"]


def test_required_and_blocked_required():
    p = plan(["profile.read", "photos.read"], app=NAMES, role=NAMES, required={"profile.read"})
    assert p.granted([]) == ["profile.read"]
    blocked = plan(["photos.delete"], app=NAMES, role={"photos.read"}, required={"photos.delete"})
    assert blocked.blocked_required == ["photos.delete"]


def test_previously_granted_is_not_asked_again_but_still_capped_by_the_role():
    p = plan(
        ["photos.read", "photos.delete"],
        app=NAMES,
        role={"photos.read"},
        previous=["photos.read", "photos.delete"],
    )
    assert p.already_granted == ["photos.read"]
    assert not p.offered
    assert p.granted([]) == ["photos.read"]  # the lowered role drops photos.delete


requested_st = st.lists(st.sampled_from(NAMES), max_size=6)
sets_st = st.sets(st.sampled_from(NAMES))


@settings(max_examples=300)
@given(requested_st, sets_st, st.sets(st.sampled_from(LEAVES)), sets_st, sets_st, sets_st)
def test_granted_never_exceeds_requested_app_role_or_ticked(requested, app, role, ticked, previous, required):
    p = plan(requested, app=app, role=role, previous=previous, required=required & set(app))
    granted = p.granted(ticked)
    granted_closure = closure(granted, GRAPH)
    assert granted_closure <= closure(requested, GRAPH)  # never more than requested
    assert granted_closure <= closure(app, GRAPH)  # never more than the app may ask
    assert granted_closure <= set(role)  # never more than the role can grant
    for name in granted:  # each grant was ticked, required, or remembered
        assert name in ticked or name in p.required_names or name in p.already_granted
    # nothing greyed out is ever offered as a checkbox
    assert not (p.offered_names & {line.name for line in p.unavailable})
