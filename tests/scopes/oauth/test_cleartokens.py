"""django-oauth-toolkit's `cleartokens`, the schedule docs/deployment.md asks for, on our swapped models:
expired tokens and codes go, live ones stay, and the rows that hang on them (a personal token) go with them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from scopes.machines.models import PersonalAccessToken
from scopes.machines.services import personal_token_create
from scopes.models import AccessToken, Grant

pytestmark = pytest.mark.django_db


def test_cleartokens_removes_what_expired_and_keeps_what_lives(world, mint_token):
    live = mint_token(world.member_a, world.acme, ["photos.read"])
    expired = mint_token(world.member_a, world.acme, ["photos.read"])
    AccessToken.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(days=1))
    personal, _value = personal_token_create(
        actor=world.member_a, tenant=world.acme, name="old", scopes=["photos.read"], days=1
    )
    AccessToken.objects.filter(pk=personal.access_token_id).update(
        expires=timezone.now() - timedelta(minutes=1)
    )
    code = Grant.objects.create(
        user=world.member_a,
        tenant=world.acme,
        application=world.app,
        code="expired-code",
        expires=timezone.now() - timedelta(minutes=5),
        redirect_uri="http://127.0.0.1:8765/callback",
        scope="photos.read",
        code_challenge="x" * 43,
        code_challenge_method="S256",
    )
    call_command("cleartokens")
    assert AccessToken.objects.filter(pk=live.pk).exists()
    assert not AccessToken.objects.filter(pk=expired.pk).exists()
    assert not PersonalAccessToken.objects.filter(pk=personal.pk).exists()
    assert not Grant.objects.filter(pk=code.pk).exists()


@pytest.mark.postgresql_leg
def test_cleartokens_works_as_the_runtime_role_under_row_level_security(world, mint_token, settings):
    """The application's runtime role sees a tenant's rows only once it is entered: the command enters each."""
    from django.db import connection

    from tests.rls import runtime_role

    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    expired = mint_token(world.member_b, world.globex, ["photos.read"])
    AccessToken.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{runtime_role()}"')
        try:
            call_command("cleartokens")
        finally:
            cursor.execute("RESET ROLE")
    assert not AccessToken.objects.filter(pk=expired.pk).exists()
