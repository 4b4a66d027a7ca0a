"""The seeded registry and roles, the scope-name constants, and the demo seed command."""

import io

import pytest
from django.core.management import call_command

from accounts.models import Membership, Role, Tenant, User
from scopes.access.selectors import implication_graph, role_reaches
from scopes.constants import ScopeName
from scopes.models import Application, ApplicationScope, RoleGrant, Scope

pytestmark = pytest.mark.django_db


def test_scope_constants_and_database_agree():
    assert set(Scope.objects.values_list("name", flat=True)) == {str(n) for n in ScopeName}


def test_seeded_implications():
    graph = implication_graph()
    assert graph["photos.write"] == {"photos.upload", "photos.update", "photos.delete", "photos.read"}
    assert graph["albums.write"] == {"albums.read"}
    assert all(Scope.objects.get(name=n).description for n in ScopeName)


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
    },
    "Guest": {
        "photos.read": "tenant",
        "albums.read": "tenant",
        "profile.read": "own",
        "offline_access": "own",
    },
}


@pytest.mark.parametrize("role_name", EXPECTED_REACHES)
def test_seeded_role_grants(role_name):
    role = Role.objects.get(name=role_name, tenant=None)
    assert role_reaches(role.pk) == EXPECTED_REACHES[role_name]


def _snapshot() -> dict:
    return {
        "tenants": sorted(Tenant.objects.values_list("slug", "name", "is_active")),
        "users": sorted(
            User.objects.values_list("username", "email", "is_staff", "is_superuser", "password")
        ),
        "memberships": sorted(Membership.objects.values_list("user__username", "tenant__slug", "role__name")),
        "apps": sorted(Application.objects.values_list("client_id", "name", "redirect_uris", "client_type")),
        "app_scopes": sorted(
            ApplicationScope.objects.values_list("application__client_id", "scope__name", "required")
        ),
        "roles": sorted(Role.objects.values_list("name", "tenant_id")),
        "grants": sorted(RoleGrant.objects.values_list("role__name", "scope__name", "reach")),
    }


def test_seed_demo_twice_gives_the_same_database():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = _snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert _snapshot() == first
    assert len(first["tenants"]) == 2
    sam = {(t, r) for u, t, r in first["memberships"] if u == "sam"}
    assert sam == {("acme", "Admin"), ("globex", "Guest")}
    assert User.objects.get(username="admin").is_superuser
    text = out.getvalue()
    for needle in ("acme-guest", "globex-owner", "demo-password", "demo-photos-client", "/admin/"):
        assert needle in text


def test_demo_client_is_public_with_pkce_flow():
    call_command("seed_demo", stdout=io.StringIO())
    app = Application.objects.get(client_id="demo-photos-client")
    assert app.client_type == Application.CLIENT_PUBLIC
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert app.scope_links.filter(required=True).count() == 1
    assert all(link.reason for link in app.scope_links.all())
