"""Step-up per scope at the API (RFC 9470): a token whose sign-in is too weak or too old for the call
gets 401 `insufficient_user_authentication`, from the decision's sign-in step (scopes.access)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import authn
from photos.models import Photo
from scopes.access.cache import load_context
from scopes.access.context_decision import decide_for
from scopes.access.decision import Reason, Step
from scopes.access.scope_registry import registry
from scopes.constants import ScopeName as S
from scopes.models import Scope
from tests.answers import bearer_challenge, json_body
from tests.factories import PhotoFactory

pytestmark = pytest.mark.django_db

MFA_RECENT = {"acr": authn.MFA, "amr": "pwd otp mfa"}


@pytest.fixture
def delete_needs_mfa(world):
    """photos.delete needs a second factor within ten minutes (the registry row, as the admin edits it)."""
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA, max_age=600)


@pytest.fixture
def photo(world):
    return PhotoFactory(tenant=world.acme, owner=world.member_a)


def url(photo: Photo) -> str:
    return f"/api/t/acme/photos/{photo.pk}/"


def test_a_password_token_gets_rfc_9470s_challenge_and_the_refusal_body(
    world, api_client, photo, delete_needs_mfa
):
    client = api_client(
        world.member_a, world.acme, [S.PHOTOS_DELETE], acr=authn.PASSWORD, amr="pwd", auth_time=timezone.now()
    )
    response = client.delete(url(photo))
    assert response.status_code == 401
    assert bearer_challenge(response) == (
        'Bearer realm="api", error="insufficient_user_authentication", acr_values="mfa", max_age="600"'
    )
    assert 'error_description="A stronger or more recent sign-in is required"' in response["WWW-Authenticate"]
    body = json_body(response)
    assert body["error"] == body["reason"] == "insufficient_user_authentication"
    assert body["acr_values"] == "mfa" and body["max_age"] == 600
    assert body["required_scopes"] == ["photos.delete"] and body["granted_scopes"] == ["photos.delete"]
    assert "second factor within the last 10 minutes" in body["detail"]
    assert "a password, just now" in body["detail"]
    assert Photo.objects.for_tenant(world.acme).filter(pk=photo.pk).exists()


def test_a_recent_second_factor_passes(world, api_client, photo, delete_needs_mfa):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_DELETE], **MFA_RECENT, auth_time=timezone.now())
    assert client.delete(url(photo)).status_code == 204
    assert not Photo.objects.for_tenant(world.acme).filter(pk=photo.pk).exists()


def test_a_second_factor_too_long_ago_is_challenged_with_max_age(world, api_client, photo, delete_needs_mfa):
    old = timezone.now() - timedelta(minutes=11)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_DELETE], **MFA_RECENT, auth_time=old)
    response = client.delete(url(photo))
    assert response.status_code == 401
    assert json_body(response)["max_age"] == 600
    assert "a second factor, 11 minutes ago" in json_body(response)["detail"]


def test_a_token_with_no_recorded_sign_in_is_challenged(world, api_client, photo, delete_needs_mfa):
    """Tokens from before sign-in levels, service accounts, devices: the weakest sign-in."""
    client = api_client(world.member_a, world.acme, [S.PHOTOS_DELETE])
    assert client.delete(url(photo)).status_code == 401


def test_only_the_scope_that_needs_it_is_stepped_up(world, api_client, photo, delete_needs_mfa):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], acr=authn.PASSWORD)
    assert client.get(url(photo)).status_code == 200


def test_scope_and_role_are_decided_before_the_sign_in(world, api_client, photo, delete_needs_mfa):
    """A step-up that could not help is never asked for: no scope is 403 insufficient_scope."""
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ], acr=authn.PASSWORD)
    assert client.delete(url(photo)).status_code == 403
    guest = api_client(world.guest_a, world.acme, [S.PHOTOS_DELETE], acr=authn.PASSWORD)
    assert json_body(guest.delete(url(photo)))["reason"] == "role_forbids"


def test_without_a_requirement_any_sign_in_passes(world, api_client, photo):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_DELETE])
    assert client.delete(url(photo)).status_code == 204


def test_a_requirement_added_applies_to_live_tokens_at_once(world, api_client, photo):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], acr=authn.PASSWORD)
    assert client.get(url(photo)).status_code == 200  # the context is cached now
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA)  # no signal: a raw update
    assert client.delete(url(photo)).status_code == 401


def test_the_trace_shows_the_sign_in_step(world, mint_token, photo, delete_needs_mfa):
    token = mint_token(
        world.member_a, world.acme, [S.PHOTOS_DELETE], acr=authn.PASSWORD, auth_time=timezone.now()
    )
    context = load_context(token.token)
    decision = decide_for(
        context, tenant_slug="acme", action_scope=S.PHOTOS_DELETE, read_scope=None, target=None, resource=None
    )
    assert decision.reason == Reason.INSUFFICIENT_USER_AUTHENTICATION and decision.status == 401
    step = decision.trace[-1]
    assert step.step == Step.SIGN_IN and not step.passed
    assert (
        step.note
        == "photos.delete needs a sign-in with a second factor within the last 10 minutes; the token has a password, just now"
    )


def test_the_sign_in_comes_with_the_token_row_no_extra_query(
    world, mint_token, tenancy_statements, delete_needs_mfa
):
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_DELETE], **MFA_RECENT, auth_time=timezone.now())
    registry()
    with CaptureQueriesContext(connection) as queries:
        context = load_context(token.token)
    assert len(queries) == tenancy_statements + 1
    assert context.sign_in.acr == authn.MFA and context.sign_in.amr == ("pwd", "otp", "mfa")
    assert context.requirements[S.PHOTOS_DELETE] == authn.Requirement(acr=authn.MFA, max_age=600)


def test_a_requirement_on_an_implying_scope_is_what_consent_asks(world, delete_needs_mfa):
    """photos.write implies photos.delete: consenting to it needs what photos.delete needs."""
    snapshot = registry()
    assert snapshot.requirement_for([S.PHOTOS_WRITE]) == authn.Requirement(acr=authn.MFA, max_age=600)
    assert snapshot.requirement_for([S.PHOTOS_READ]) == authn.NONE
