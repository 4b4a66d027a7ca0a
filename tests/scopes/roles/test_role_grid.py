"""The roles-by-scopes grid (scopes/roles/grid.py): reach per cell, writes through role_grants_set,
the what-if before saving, and the escalation rule: a refusal changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import AuditEvent, Role
from photos.demo import TENANT_ADMINISTRATOR_PERMISSIONS
from scopes.access.selectors import role_reaches
from scopes.models import RoleGrant
from scopes.roles.services import role_grants_set, role_save
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/roles/grid/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(world) -> Client:
    return signed_in(UserFactory(username="root", is_staff=True, is_superuser=True))


@pytest.fixture
def tenant_admin(world) -> Client:
    world.admin_a.is_staff = True
    world.admin_a.save()
    world.admin_a.user_permissions.set(
        Permission.objects.filter(codename__in=TENANT_ADMINISTRATOR_PERMISSIONS)
    )
    return signed_in(world.admin_a)


def grants(role: Role) -> dict[str, str]:
    return dict(RoleGrant.objects.filter(role=role).values_list("scope__name", "reach"))


def cells(role: Role, **changes: str) -> dict[str, str]:
    """The form as the page posts it for `role` (its current grants), with `changes`."""
    wanted = {**grants(role), **{name.replace("_", "."): reach for name, reach in changes.items()}}
    return {f"cell-{role.pk}-{name}": reach for name, reach in wanted.items()}


def test_every_cell_shows_the_reach_and_a_composites_parts(world, root):
    html = root.get(URL).content.decode()
    member = world.role("Member")
    assert f'name="cell-{member.pk}-photos.delete"' in html
    row = html[html.index('<tr data-scope="photos.read">') :]
    row = row[: row.index("</tr>")]
    assert row.count('value="tenant" selected') == 4  # every seeded role reads the whole tenant
    assert "contains photos.delete, photos.read, photos.update, photos.upload" in html


def test_a_change_is_previewed_then_saved_through_the_service(world, root, mint_token):
    mint_token(world.member_a, world.acme, ["photos.delete"])
    member = world.role("Member")
    before = grants(member)
    data = cells(member, photos_delete="")
    page = root.post(URL, data)
    assert page.status_code == 200 and "Nothing is saved yet" in page.content.decode()
    assert 'data-scope="photos.delete"' in page.content.decode()  # the what-if table names it
    assert grants(member) == before  # previewed only
    confirmed = root.post(URL, {**data, "_preview_confirmed": "1"})
    assert confirmed.status_code == 302
    assert "photos.delete" not in grants(member)
    assert AuditEvent.objects.filter(action="grant.deleted", actor_label="root").exists()


def test_a_tenant_admin_cannot_change_a_global_role_and_nothing_changes(world, tenant_admin):
    member = world.role("Member")
    before = (grants(member), AuditEvent.objects.count())
    html = tenant_admin.get(URL).content.decode()
    assert f'name="cell-{member.pk}-photos.delete"' not in html  # read-only for them
    answer = tenant_admin.post(URL, {**cells(member, photos_delete="tenant"), "_preview_confirmed": "1"})
    assert answer.status_code == 400
    assert "You cannot change the grants of Member" in answer.content.decode()
    assert (grants(member), AuditEvent.objects.count()) == before


def test_a_tenant_admin_gives_their_tenants_role_nothing_beyond_their_own(world, tenant_admin):
    editor = role_save(actor=None, role=Role(name="Editor", tenant=world.acme))
    html = tenant_admin.get(URL).content.decode()
    assert f'name="cell-{editor.pk}-photos.read"' in html  # their tenant's role: editable
    saved = tenant_admin.post(URL, {**cells(editor, photos_read="tenant"), "_preview_confirmed": "1"})
    assert saved.status_code == 302
    assert grants(editor) == {"photos.read": "tenant"}

    # member_a (Member, own reach on deletes) with the same admin powers cannot widen past theirs.
    world.member_a.is_staff = True
    world.member_a.save()
    world.member_a.user_permissions.set(
        Permission.objects.filter(codename__in=TENANT_ADMINISTRATOR_PERMISSIONS)
    )
    weaker = signed_in(world.member_a)
    before = (grants(editor), AuditEvent.objects.count())
    refused = weaker.post(URL, {**cells(editor, photos_delete="tenant"), "_preview_confirmed": "1"})
    assert refused.status_code == 400
    assert "You cannot give photos.delete (tenant)" in refused.content.decode()
    assert (grants(editor), AuditEvent.objects.count()) == before


def test_a_value_that_is_not_a_reach_is_a_400_and_changes_nothing(world, root):
    member = world.role("Member")
    before = grants(member)
    answer = root.post(URL, {f"cell-{member.pk}-photos.read": "everything", "_preview_confirmed": "1"})
    assert answer.status_code == 400 and "is not a reach" in answer.content.decode()
    assert grants(member) == before


def test_staff_without_role_permissions_cannot_open_it(world):
    world.member_a.is_staff = True
    world.member_a.save()
    assert signed_in(world.member_a).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302  # to the sign-in


def test_a_change_that_moves_nobody_is_saved_at_once(world, root):
    lonely = role_save(actor=None, role=Role(name="Nobody holds it", tenant=world.acme))
    role_grants_set(actor=None, role=lonely, grants=[])
    answer = root.post(URL, cells(lonely, albums_read="own"))
    assert answer.status_code == 302
    assert role_reaches(lonely.pk) == {"albums.read": "own"}
