"""The decision function alone: plain data in, an answer with a reason and a trace out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopes.access.decision import Reason, Step, Target, accepted_scopes, decide, effective_permissions

GRAPH = {
    "photos.write": {"photos.upload", "photos.update", "photos.delete", "photos.read"},
    "photos.read": set(),
    "photos.upload": set(),
    "photos.update": set(),
    "photos.delete": set(),
    "albums.write": {"albums.read"},
    "albums.read": set(),
    "profile.read": set(),
}
MEMBER = [("photos.read", "tenant"), ("photos.delete", "own"), ("profile.read", "own")]
OWNER = [("photos.write", "tenant")]


def ask(**kwargs):
    base = {
        "action_scope": "photos.delete",
        "read_scope": "photos.read",
        "token_scopes": ["photos.delete"],
        "role_grants": MEMBER,
    }
    return decide(implications=GRAPH, **{**base, **kwargs})


def test_allowed_on_own_object_with_the_trace_of_every_step():
    decision = ask(target=Target(exists_in_tenant=True, owner_is_user=True))
    assert decision.allowed and decision.status == 200 and decision.reason is None
    assert [step.step for step in decision.trace] == [
        Step.TOKEN,
        Step.RESOURCE,
        Step.TENANT,
        Step.SCOPE,
        Step.ROLE,
        Step.ALBUM,
        Step.OBJECT,
    ]
    assert all(step.passed for step in decision.trace)


def test_bad_token_is_401_and_stops_there():
    decision = ask(token_problem="the token has expired")
    assert (decision.status, decision.reason) == (401, Reason.INVALID_TOKEN)
    assert [s.step for s in decision.trace] == [Step.TOKEN]


def test_tenant_problem_is_404():
    decision = ask(tenant_problem="not a member")
    assert (decision.status, decision.reason) == (404, Reason.TENANT_NOT_FOUND)


def test_scope_missing_names_the_needed_scope_and_the_granted_ones():
    decision = ask(token_scopes=["photos.read", "photos.upload"])
    assert (decision.status, decision.reason) == (403, Reason.SCOPE_MISSING)
    assert decision.required_scopes == ("photos.delete",)
    assert decision.granted_scopes == ("photos.read", "photos.upload")


def test_an_implying_scope_satisfies_and_granted_scopes_are_normalised():
    decision = ask(token_scopes=["photos.write", "photos.delete"], role_grants=OWNER)
    assert decision.allowed
    assert decision.granted_scopes == ("photos.write",)


def test_role_without_a_grant_forbids_even_with_the_scope():
    decision = ask(role_grants=[("photos.read", "tenant")], role_name="Guest", tenant_name="Acme")
    assert (decision.status, decision.reason) == (403, Reason.ROLE_FORBIDS)
    assert "Guest in Acme" in decision.detail


def test_a_grant_covers_what_its_scope_implies_with_the_same_reach():
    decision = ask(role_grants=OWNER, target=Target(exists_in_tenant=True, owner_is_user=False))
    assert decision.allowed and decision.reach == "tenant"


def test_own_reach_on_a_visible_object_of_someone_else_is_not_owner():
    decision = ask(target=Target(exists_in_tenant=True, owner_is_user=False))
    assert (decision.status, decision.reason) == (403, Reason.NOT_OWNER)


@pytest.mark.parametrize(
    "target", [Target(exists_in_tenant=False), Target(exists_in_tenant=False, owner_is_user=True)]
)
def test_object_outside_the_tenant_is_404(target):
    assert ask(target=target).status == 404


def test_object_outside_the_read_reach_is_404_not_403():
    grants = [("photos.read", "own"), ("photos.delete", "own")]
    decision = ask(role_grants=grants, target=Target(exists_in_tenant=True, owner_is_user=False))
    assert (decision.status, decision.reason) == (404, Reason.NOT_FOUND)


def test_scope_is_checked_before_role_and_role_before_object():
    decision = ask(token_scopes=[], role_grants=[], target=Target(exists_in_tenant=False))
    assert decision.reason == Reason.SCOPE_MISSING
    decision = ask(role_grants=[], target=Target(exists_in_tenant=False))
    assert decision.reason == Reason.ROLE_FORBIDS


def test_accepted_scopes_are_the_scope_and_those_implying_it():
    assert accepted_scopes("photos.delete", GRAPH) == ["photos.delete", "photos.write"]
    assert accepted_scopes("profile.read", GRAPH) == ["profile.read"]


def test_effective_permissions_need_both_token_and_role():
    allowed = effective_permissions(token_scopes=["photos.write"], role_grants=MEMBER, implications=GRAPH)
    assert allowed["photos.delete"] == "own"
    assert allowed["photos.read"] == "tenant"
    assert allowed["photos.upload"] is None  # token has it, role does not
    assert allowed["profile.read"] is None  # role has it, token does not


names = st.sampled_from(sorted(GRAPH))
reaches = st.sampled_from(["own", "tenant"])


@given(
    token=st.lists(names, max_size=4),
    grants=st.lists(st.tuples(names, reaches), max_size=4),
    action=names,
    exists=st.booleans(),
    mine=st.booleans(),
)
def test_allowed_only_when_token_role_and_object_all_agree(token, grants, action, exists, mine):
    decision = decide(
        action_scope=action,
        token_scopes=token,
        role_grants=grants,
        implications=GRAPH,
        target=Target(exists_in_tenant=exists, owner_is_user=mine),
    )
    if decision.allowed:
        assert exists
        assert decision.reach is not None
        assert mine or decision.reach == "tenant"
        assert any(action in [t, *GRAPH[t]] for t in token)
    else:
        assert decision.status in {403, 404}
        assert decision.trace[-1].passed is False


targets = st.one_of(st.none(), st.builds(Target, exists_in_tenant=st.booleans(), owner_is_user=st.booleans()))


@given(
    token=st.lists(names, max_size=4),
    grants=st.lists(st.tuples(names, reaches), max_size=4),
    action=names,
    target=targets,
)
def test_another_tenant_or_a_missing_scope_is_refused_before_any_object(token, grants, action, target):
    """The order the HTTP matrices rely on: they keep one object per endpoint and role for these
    refusals (tests/photos/test_permission_matrix.py), because here every object answers the same."""

    def ask_with(**kwargs):
        return decide(
            action_scope=action,
            token_scopes=token,
            role_grants=grants,
            implications=GRAPH,
            target=target,
            **kwargs,
        )

    other_tenant = ask_with(tenant_problem="the token was issued for another tenant")
    assert (other_tenant.status, other_tenant.reason) == (404, Reason.TENANT_NOT_FOUND)
    assert [step.step for step in other_tenant.trace] == [Step.TOKEN, Step.RESOURCE, Step.TENANT]
    if not any(action in [t, *GRAPH[t]] for t in token):
        no_scope = ask_with()
        assert (no_scope.status, no_scope.reason) == (403, Reason.SCOPE_MISSING)
        assert [step.step for step in no_scope.trace] == [Step.TOKEN, Step.RESOURCE, Step.TENANT, Step.SCOPE]
