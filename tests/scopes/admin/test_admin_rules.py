"""What administrators can and cannot do in the admin, and that it reaches the API at once."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership
from scopes.models import AccessToken, Consent, RefreshToken, RoleGrant, Scope
from tests.admin_forms import add_inline_row, form_data
from tests.factories import ConsentFactory, PhotoFactory, ScopeFactory


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def staff_member(client, world):
    """member_a as staff with permission to manage memberships (and view roles and scopes)."""
    user = world.member_a
    user.is_staff = True
    user.save()
    codenames = [
        "view_membership",
        "add_membership",
        "change_membership",
        "delete_membership",
        "view_role",
        "change_role",
        "add_rolegrant",
        "change_rolegrant",
        "view_rolegrant",
        "view_scope",
        "change_scope",
        "view_application",
        "change_application",
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_scope_in_use_cannot_be_deleted_and_the_page_says_where(admin_client, world):
    read = Scope.objects.get(name="photos.read")
    response = admin_client.post(
        reverse("admin:scopes_scope_delete", args=[read.pk]), {"post": "yes"}, follow=True
    )
    body = response.content.decode()
    assert "is still in use and cannot be deleted" in body
    assert "Member" in body and "photos.write" in body
    assert Scope.objects.filter(pk=read.pk).exists()
    unused = ScopeFactory(name="spare.scope")
    admin_client.post(reverse("admin:scopes_scope_delete", args=[unused.pk]), {"post": "yes"})
    assert not Scope.objects.filter(name="spare.scope").exists()
    assert AuditEvent.objects.filter(action=AuditAction.SCOPE_DELETED, target_label="spare.scope").exists()


def test_grant_added_through_the_admin_changes_the_next_api_answer(admin_client, world, api_client):
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a)
    guest = api_client(world.guest_a, world.acme, ["photos.delete"])
    refused = guest.delete(f"/api/t/acme/photos/{photo.pk}/")
    assert refused.status_code == 403 and refused.json()["reason"] == "role_forbids"

    role = world.role(RoleName.GUEST)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    data = form_data(admin_client.get(url))
    delete = Scope.objects.get(name="photos.delete")
    add_inline_row(data, "grants", {"scope": delete.pk, "reach": "tenant", "role": role.pk})
    # First the what-if preview (scopes.usage.admin_preview): nothing saved, the guest gains delete.
    shown = admin_client.post(url, data)
    assert shown.status_code == 200 and "preview" in shown.context
    gained = {c.scope: c.summary for c in shown.context["preview"].changes}["photos.delete"]
    assert gained["users_gained"] == 1 and gained["tokens_gained"] == 1
    assert not RoleGrant.objects.filter(role=role, scope=delete).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.GRANT_CREATED).exists()
    response = admin_client.post(url, {**data, "_preview_confirmed": "1"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert RoleGrant.objects.filter(role=role, scope=delete).exists()

    assert guest.delete(f"/api/t/acme/photos/{photo.pk}/").status_code == 204
    event = AuditEvent.objects.get(action=AuditAction.GRANT_CREATED)
    assert event.after["scope"] == delete.pk and event.after["reach"] == "tenant"


def test_scope_implication_edited_in_the_admin_applies_to_the_next_request(admin_client, world, api_client):
    client = api_client(world.admin_a, world.acme, ["albums.write"])
    assert client.get("/api/t/acme/photos/").status_code == 403
    albums_write = Scope.objects.get(name="albums.write")
    url = reverse("admin:scopes_scope_change", args=[albums_write.pk])
    data = form_data(admin_client.get(url))
    data["implies"] = [*data["implies"], str(Scope.objects.get(name="photos.read").pk)]
    shown = admin_client.post(url, data)
    assert {c.scope for c in shown.context["preview"].changes} == {"photos.read"}
    assert client.get("/api/t/acme/photos/").status_code == 403  # the preview saved nothing
    assert admin_client.post(url, {**data, "_preview_confirmed": "1"}).status_code == 302
    assert client.get("/api/t/acme/photos/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SCOPE_CHANGED).exists()


def test_staff_cannot_give_a_role_beyond_their_own_reach(staff_member, world):
    admin_role = world.role(RoleName.ADMIN)
    guest = Membership.objects.get(user=world.guest_a, tenant=world.acme)
    url = reverse("admin:accounts_membership_change", args=[guest.pk])
    response = staff_member.post(url, {"role": admin_role.pk})
    assert response.status_code == 200
    assert "You cannot give" in response.content.decode()
    guest.refresh_from_db()
    assert guest.role.name == RoleName.GUEST
    # A role within their own reach is fine, and the service writes the audit row.
    response = staff_member.post(url, {"role": world.role(RoleName.MEMBER).pk, "_preview_confirmed": "1"})
    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.role.name == RoleName.MEMBER
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CHANGED, actor=world.member_a).exists()


def test_staff_add_a_new_person_with_their_membership_in_one_go(staff_member, world):
    from django.contrib.auth.models import Permission

    world.member_a.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_user", "change_user", "view_user"])
    )
    response = staff_member.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newcomer",
            "usable_password": "false",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-tenant": world.acme.pk,
            "memberships-0-role": world.role(RoleName.GUEST).pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Membership.objects.get(user__username="newcomer").tenant == world.acme
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CREATED, actor=world.member_a).exists()


def test_staff_cannot_promote_themselves(staff_member, world):
    mine = Membership.objects.get(user=world.member_a, tenant=world.acme)
    response = staff_member.post(
        reverse("admin:accounts_membership_change", args=[mine.pk]),
        {"user": world.member_a.pk, "tenant": world.acme.pk, "role": world.role(RoleName.OWNER).pk},
    )
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.role.name == "Member"


def test_staff_cannot_change_scopes_global_roles_or_applications(staff_member, world):
    read = Scope.objects.get(name="photos.read")
    response = staff_member.post(
        reverse("admin:scopes_scope_change", args=[read.pk]), {"name": "photos.read", "description": "hacked"}
    )
    assert response.status_code == 403
    assert Scope.objects.get(pk=read.pk).description != "hacked"
    owner = world.role(RoleName.OWNER)
    assert (
        staff_member.post(reverse("admin:accounts_role_change", args=[owner.pk]), {"name": "x"}).status_code
        == 403
    )
    assert (
        staff_member.post(reverse("admin:scopes_application_change", args=[world.app.pk]), {}).status_code
        == 403
    )


def test_staff_cannot_write_a_tenant_role_grant_beyond_their_reach(staff_member, world):
    from accounts.models import Role

    role = Role.objects.create(name="Editor", tenant=world.acme)
    url = reverse("admin:accounts_role_change", args=[role.pk])
    data = form_data(staff_member.get(url))
    add_inline_row(
        data,
        "grants",
        {"scope": Scope.objects.get(name="photos.delete").pk, "reach": "tenant", "role": role.pk},
    )
    response = staff_member.post(url, data)
    assert response.status_code == 200
    assert "You cannot give photos.delete (tenant) in Acme" in response.content.decode()
    assert not role.grants.exists()


def test_consent_admin_takes_back_scopes_and_revokes(admin_client, world, mint_token):
    consent = ConsentFactory(user=world.member_a, tenant=world.acme, application=world.app)
    consent.scopes.set(Scope.objects.filter(name__in=["photos.read", "albums.read"]))
    token = mint_token(world.member_a, world.acme, ["photos.read", "albums.read"])
    url = reverse("admin:scopes_consent_change", args=[consent.pk])
    assert admin_client.post(url, {"remove_scopes": ["albums.read"]}).status_code == 302
    token.refresh_from_db()
    assert token.scope == "photos.read"
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_NARROWED, actor__username="root").exists()

    changelist = reverse("admin:scopes_consent_changelist")
    admin_client.post(changelist, {"action": "revoke_consents", "_selected_action": [consent.pk]})
    assert not Consent.objects.exists()
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_REVOKED).exists()


def test_token_admin_revokes_selected_tokens_and_never_shows_values(admin_client, world, mint_token):
    token = mint_token(world.member_a, world.acme, ["photos.read"])
    refresh = RefreshToken.objects.create(
        user=world.member_a,
        tenant=world.acme,
        application=world.app,
        token="rt-secret-value",
        access_token=token,
    )
    page = admin_client.get(reverse("admin:scopes_accesstoken_change", args=[token.pk])).content.decode()
    assert token.token not in page and token.token_checksum not in page
    admin_client.post(
        reverse("admin:scopes_accesstoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    refresh.refresh_from_db()
    assert refresh.revoked is not None
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED, actor__username="root").exists()


def test_application_admin_hides_the_stored_secret(admin_client, world):
    from scopes.models import Application
    from tests.factories import ApplicationFactory

    app = ApplicationFactory(
        client_type=Application.CLIENT_CONFIDENTIAL, client_secret="plain-secret-123", hash_client_secret=True
    )
    stored = Application.objects.get(pk=app.pk).client_secret
    page = admin_client.get(reverse("admin:scopes_application_change", args=[app.pk])).content.decode()
    assert stored not in page and "plain-secret-123" not in page
    assert "stored hashed" in page


def test_application_change_is_audited(admin_client, world):
    url = reverse("admin:scopes_application_change", args=[world.app.pk])
    data = form_data(admin_client.get(url))
    data["publisher"] = "Acme Labs"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=AuditAction.APPLICATION_CHANGED)
    assert event.before["publisher"] == "" and event.after["publisher"] == "Acme Labs"
    assert "client_secret" not in event.after


def test_audit_log_is_read_only_and_filterable(admin_client, world):
    from scopes.roles.services import membership_set

    membership_set(
        actor=world.owner_a, user=world.outsider, tenant=world.acme, role=world.role(RoleName.GUEST)
    )
    url = reverse("admin:accounts_auditevent_changelist")
    page = admin_client.get(url, {"action": "membership.created", "tenant__id__exact": world.acme.pk})
    assert page.status_code == 200 and "membership.created" in page.content.decode()
    event = AuditEvent.objects.get()
    assert (
        admin_client.post(
            reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_role_created_in_the_admin_and_consent_granted_in_a_page_are_audited(
    admin_client, world, gallery, browser_of
):
    from tests.oauth import Flow

    response = admin_client.post(
        reverse("admin:accounts_role_add"),
        {
            "name": "Curator",
            "description": "Looks after albums",
            "tenant": world.acme.pk,
            "grants-TOTAL_FORMS": "0",
            "grants-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CREATED)
    assert event.tenant == world.acme and event.after["name"] == "Curator"

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    flow.exchange(flow.authorize())
    granted = AuditEvent.objects.get(action=AuditAction.CONSENT_GRANTED)
    assert granted.actor == world.member_a and granted.after == {"scopes": ["photos.read"]}


def test_a_superuser_adds_a_tenant_with_its_members_in_one_go(admin_client, world):
    response = admin_client.post(
        reverse("admin:accounts_tenant_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "is_active": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(world.member_a.pk),
            "memberships-0-role": str(world.role(RoleName.OWNER).pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    joined = Membership.objects.get(user=world.member_a, tenant__slug="initech")
    assert joined.role.name == RoleName.OWNER
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CREATED, tenant=joined.tenant).exists()
