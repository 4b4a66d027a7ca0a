"""The seeded registry and roles, and the scope-name constants (the demo world: tests/photos/test_demo.py)."""

import pytest

from accounts.models import Role
from scopes.access.selectors import implication_graph, role_reaches
from scopes.constants import ScopeName
from scopes.models import Scope

pytestmark = pytest.mark.django_db


def test_scope_constants_and_database_agree():
    assert set(Scope.objects.values_list("name", flat=True)) == {str(n) for n in ScopeName}


def test_seeded_implications():
    graph = implication_graph()
    assert graph["photos.write"] == {"photos.upload", "photos.update", "photos.delete", "photos.read"}
    assert graph["albums.write"] == {"albums.read"}
    assert all(Scope.objects.get(name=n).description for n in ScopeName)


IDENTITY = {"openid": "own", "profile": "own", "email": "own"}
EXPECTED_REACHES = {
    "Owner": {str(n): "tenant" for n in ScopeName},
    "Admin": {str(n): "tenant" for n in ScopeName},
    "Member": {
        "photos.read": "tenant",
        "albums.read": "tenant",
        "photos.upload": "own",
        "photos.update": "own",
        "photos.delete": "own",
        "albums.write": "own",
        "profile.read": "own",
        "offline_access": "own",
        **IDENTITY,
    },
    "Guest": {
        "photos.read": "tenant",
        "albums.read": "tenant",
        "profile.read": "own",
        "offline_access": "own",
        **IDENTITY,
    },
}


@pytest.mark.parametrize("role_name", EXPECTED_REACHES)
def test_seeded_role_grants(role_name):
    role = Role.objects.get(name=role_name, tenant=None)
    assert role_reaches(role.pk) == EXPECTED_REACHES[role_name]
