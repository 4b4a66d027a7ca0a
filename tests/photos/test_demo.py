"""The demo world `manage.py seed_demo` makes (photos/demo.py): made once, never undoing an administrator."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from accounts.constants import RoleName
from accounts.models import AuditEvent, Membership, Role, Tenant, User
from photos.demo import PHOTOS, TENANT_ADMINISTRATOR_PERMISSIONS
from photos.models import Album, Photo
from photos.services import photo_delete
from scopes.models import Application, ApplicationScope, RoleGrant
from scopes.roles.services import membership_set
from scopes.services import application_scopes_set

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
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
        "albums": sorted(Album.all_tenants.values_list("tenant__slug", "name", "owner__username")),
        "photos": sorted(
            Photo.all_tenants.values_list("tenant__slug", "title", "owner__username", "album__name")
        ),
        "audit": AuditEvent.objects.count(),
    }


def test_the_demo_has_photos_in_albums_owned_by_different_people(media_root):
    text = seed("--url", "http://127.0.0.1:8123")
    photos = list(Photo.all_tenants.order_by("pk").select_related("tenant", "owner", "album"))
    assert [(p.tenant.slug, p.owner.username, p.title) for p in photos] == [
        (d.tenant, d.owner, d.title) for d in PHOTOS
    ]
    assert {p.album.owner.username for p in photos if p.album} == {
        "acme-owner",
        "acme-member",
        "globex-owner",
    }
    for photo in photos:  # real images, readable by the same checks as an upload
        with Image.open(media_root / photo.image.name) as image:
            assert image.format == "JPEG" and image.size == (photo.width, photo.height)
    assert "http://127.0.0.1:8123/admin/" in text and "demo-password" in text and "photos-cli" in text
    assert "/o/authorize/" not in text  # it needs a client's parameters: not a place to visit


def test_the_demo_has_the_device_client_and_the_gallery():
    seed()
    cli = Application.objects.get(client_id="photos-cli")
    assert cli.authorization_grant_type == Application.GRANT_DEVICE_CODE
    assert cli.client_type == Application.CLIENT_PUBLIC
    assert set(cli.scope_links.values_list("scope__name", flat=True)) >= {"photos.read", "offline_access"}
    gallery = Application.objects.get(client_id="demo-photos-client")
    assert gallery.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert gallery.scope_links.filter(required=True).count() == 1
    assert all(link.reason for link in gallery.scope_links.all())


def test_tenant_administrators_are_staff_with_the_tenant_permissions_only():
    seed()
    admin = User.objects.get(username="acme-admin")
    assert admin.is_staff and not admin.is_superuser
    assert set(admin.user_permissions.values_list("codename", flat=True)) == set(
        TENANT_ADMINISTRATOR_PERMISSIONS
    )
    assert not User.objects.get(username="acme-member").is_staff
    sam = {(m.tenant.slug, m.role.name) for m in Membership.objects.filter(user__username="sam")}
    assert sam == {("acme", "Admin"), ("globex", "Guest")}


def test_seeding_is_audited_as_the_command():
    seed()
    labels = set(AuditEvent.objects.filter(action="membership.created").values_list("actor_label", flat=True))
    assert labels == {"manage.py seed_demo"}


def test_seeding_again_changes_nothing_an_administrator_changed():
    """`make run` twice: the demo is made once; a role changed, a photo deleted, an app narrowed stay so."""
    seed()
    admin = User.objects.get(username="admin")
    acme = Tenant.objects.get(slug="acme")
    guest = Role.objects.get(name=RoleName.GUEST, tenant=None)
    membership_set(actor=admin, user=User.objects.get(username="acme-member"), tenant=acme, role=guest)
    photo_delete(actor=admin, photo=Photo.all_tenants.get(title="Harbour"))
    gallery = Application.objects.get(client_id="demo-photos-client")
    application_scopes_set(actor=admin, application=gallery, allowed=lambda rows: [])
    before = snapshot()
    text = seed()
    assert snapshot() == before
    assert "already there: left as it is" in text
    assert Membership.objects.get(user__username="acme-member", tenant=acme).role == guest


def test_a_printed_address_must_be_a_web_address():
    with pytest.raises(CommandError, match="--url"):
        seed("--url", "javascript:alert(1)")
    assert not User.objects.filter(username="admin").exists()
