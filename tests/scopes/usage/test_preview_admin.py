"""The admin's what-if step on a membership's role, a role's grants and an app's allowed scopes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership
from scopes.constants import ScopeName as S
from scopes.models import ApplicationScope, RoleGrant
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db


def _changes(response) -> dict[str, dict]:
    return {c.scope: c.summary for c in response.context["preview"].changes}


def test_demoting_a_member_shows_what_they_and_their_tokens_lose_and_saves_on_confirm(
    admin_client, world, gallery, api_client
):
    client = api_client(world.admin_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], application=gallery)
    membership = Membership.objects.get(user=world.admin_a, tenant=world.acme)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])
    guest = world.role(RoleName.GUEST)
    shown = admin_client.post(url, {"role": guest.pk})
    assert shown.status_code == 200
    changes = _changes(shown)
    assert changes["photos.delete"]["tokens_lost"] == 1
    assert changes["photos.delete"]["sample_users_lost"] == ["admin_a"]
    assert changes["audit.read"]["users_lost"] == 1 and changes["audit.read"]["tokens_lost"] == 0
    assert "photos.read" not in changes  # a guest still reads the whole tenant
    membership.refresh_from_db()
    assert membership.role.name == RoleName.ADMIN
    assert client.delete("/api/t/acme/photos/1/").status_code == 404  # still allowed (no such photo)

    assert admin_client.post(url, {"role": guest.pk, "_preview_confirmed": "1"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == guest
    assert client.delete("/api/t/acme/photos/1/").json()["reason"] == "role_forbids"
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CHANGED).count() == 1


def test_a_change_that_moves_no_rights_is_saved_at_once(admin_client, world, gallery):
    role = world.role(RoleName.GUEST)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    data = form_data(admin_client.get(url))
    data["description"] = "Looks, never touches."
    assert admin_client.post(url, data).status_code == 302
    role.refresh_from_db()
    assert role.description == "Looks, never touches."


def test_removing_an_app_scope_in_the_app_admin_is_previewed(admin_client, world, gallery, api_client):
    api_client(world.member_a, world.acme, [S.ALBUMS_READ], application=gallery)
    url = reverse("admin:scopes_application_change", args=[gallery.pk])
    data = form_data(admin_client.get(url))
    links = {
        data[key.replace("-scope", "-id")]: key
        for key, value in data.items()
        if key.endswith("-scope")
        and str(value) in {str(pk) for pk in _scope_pks(S.ALBUMS_READ, S.ALBUMS_WRITE)}
    }
    for key in links.values():
        data[key.replace("-scope", "-DELETE")] = "on"
    shown = admin_client.post(url, data)
    assert shown.status_code == 200, shown.content.decode()[:2000]
    assert _changes(shown)["albums.read"]["tokens_lost"] == 1
    assert ApplicationScope.objects.filter(application=gallery, scope__name=S.ALBUMS_READ).exists()
    assert admin_client.post(url, {**data, "_preview_confirmed": "1"}).status_code == 302
    assert not ApplicationScope.objects.filter(application=gallery, scope__name=S.ALBUMS_READ).exists()


def _scope_pks(*names: str) -> list[int]:
    from scopes.models import Scope

    return list(Scope.objects.filter(name__in=names).values_list("pk", flat=True))


def test_role_preview_counts_members_and_tokens_in_bounded_statements(
    admin_client, world, gallery, mint_token, django_assert_max_num_queries
):
    role = world.role(RoleName.MEMBER)
    for user in (world.member_a, world.member2_a):
        mint_token(user, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], application=gallery)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    data = form_data(admin_client.get(url))
    delete_pk = str(_scope_pks(S.PHOTOS_DELETE)[0])
    for key, value in list(data.items()):
        if key.endswith("-scope") and str(value) == delete_pk:
            data[key.replace("-scope", "-DELETE")] = "on"
    shown = admin_client.post(url, data)
    changes = _changes(shown)
    # Two members in acme and one in globex hold the role; two tokens could delete.
    assert changes["photos.delete"]["users_lost"] == 3 and changes["photos.delete"]["tokens_lost"] == 2
    assert RoleGrant.objects.filter(role=role, scope__name=S.PHOTOS_DELETE).exists()
