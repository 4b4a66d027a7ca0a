"""Fixtures for the OAuth side: the test app may ask for every scope, with reasons."""

import pytest
from django.test import Client

from scopes.constants import ScopeName
from scopes.models import ApplicationScope, Scope


@pytest.fixture
def gallery(world):
    """The world's app, allowed every scope (none required unless a test says so)."""
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=world.app, scope=scope, reason=f"to use {scope.name}")
    return world.app


@pytest.fixture
def browser_of():
    """`browser_of(user)`: a Django test client signed in as that user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
