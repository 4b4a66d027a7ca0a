"""Attacks by tenant staff through the Django admin and the explain page (issue 11: 3, 4, 10, 12, 13).

The attackers are ordinary members of acme made staff and handed Django model permissions, as a
superuser would for a tenant's helpdesk. Whatever they hold, they must not act on a member whose
role reaches further than theirs, touch another tenant's rows, or grant themselves the platform's
powers; every refused attempt changes nothing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership, Role, Tenant, User
from accounts.services import audit_record
from scopes.models import AccessToken, Consent, RefreshToken, RoleGrant, Scope
from scopes.roles.services import membership_remove, membership_set
from tests.admin_forms import add_inline_row, form_data
from tests.factories import ApplicationFactory, ConsentFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

EVERY_ADMIN_PERMISSION = [
    f"{verb}_{model}"
    for verb in ("view", "add", "change", "delete")
    for model in (
        "tenant",
        "user",
        "role",
        "membership",
        "rolegrant",
        "auditevent",
        "consent",
        "accesstoken",
        "refreshtoken",
        "grant",
        "application",
        "applicationscope",
        "scope",
        "group",
    )
]


def make_staff(user: User, codenames: list[str] = EVERY_ADMIN_PERMISSION) -> Client:
    """`user` as staff holding `codenames` (every admin model permission by default), signed in."""
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def membership(user: User, tenant: Tenant) -> Membership:
    return Membership.objects.get(user=user, tenant=tenant)


# --- 3. Staff act on members stronger than themselves


def test_a_guest_cannot_demote_the_owner_through_the_membership_page(world, unchanged):
    staff = make_staff(world.guest_a)
    owner = membership(world.owner_a, world.acme)
    url = reverse("admin:accounts_membership_change", args=[owner.pk])
    with unchanged():
        response = staff.post(
            url, {"user": world.owner_a.pk, "tenant": world.acme.pk, "role": world.role(RoleName.GUEST).pk}
        )
    assert response.status_code in (200, 403)


def test_a_guest_cannot_delete_an_admins_membership(world, unchanged):
    staff = make_staff(world.guest_a)
    admin = membership(world.admin_a, world.acme)
    with unchanged():
        response = staff.post(reverse("admin:accounts_membership_delete", args=[admin.pk]), {"post": "yes"})
        staff.post(
            reverse("admin:accounts_membership_changelist"),
            {"action": "delete_selected", "_selected_action": [admin.pk], "post": "yes"},
        )
    assert response.status_code == 403


@pytest.fixture
def initech(world) -> dict[str, User]:
    """A tenant whose staff member is its Guest: its Owner and Admin are stronger than them."""
    tenant = TenantFactory(slug="initech", name="Initech")
    people = {}
    for name, role in (("owner", RoleName.OWNER), ("admin", RoleName.ADMIN), ("guest", RoleName.GUEST)):
        people[name] = MembershipFactory(
            user=UserFactory(username=f"initech-{name}"), tenant=tenant, role=world.role(role)
        ).user
    people["tenant"] = tenant
    return people


def user_form(client: Client, user: User) -> dict:
    """The user change page's POST body as the browser would send it unchanged."""
    data = form_data(client.get(reverse("admin:accounts_user_change", args=[user.pk])))
    for name in ("date_joined", "last_login"):
        value = data.pop(name, None)
        if value:
            data[f"{name}_0"], data[f"{name}_1"] = f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}"
    return data


def test_a_guest_cannot_delete_or_demote_stronger_members_in_the_tenant_inline(world, initech, unchanged):
    staff = make_staff(initech["guest"])
    tenant = initech["tenant"]
    url = reverse("admin:accounts_tenant_change", args=[tenant.pk])
    data = form_data(staff.get(url))
    rows = {int(data[f"memberships-{i}-id"]): i for i in range(int(data["memberships-TOTAL_FORMS"]))}
    owner, admin = membership(initech["owner"], tenant), membership(initech["admin"], tenant)
    data[f"memberships-{rows[admin.pk]}-DELETE"] = "on"
    data[f"memberships-{rows[owner.pk]}-role"] = str(world.role(RoleName.GUEST).pk)
    with unchanged():
        response = staff.post(url, data)
    assert response.status_code in (200, 403)


def test_a_guest_cannot_demote_the_owner_in_the_user_inline(world, initech, unchanged):
    staff = make_staff(initech["guest"])
    data = user_form(staff, initech["owner"])
    data["memberships-0-role"] = str(world.role(RoleName.GUEST).pk)
    with unchanged():
        response = staff.post(reverse("admin:accounts_user_change", args=[initech["owner"].pk]), data)
    assert response.status_code in (200, 403)


def test_the_membership_services_refuse_a_weaker_actor(world, unchanged):
    with unchanged():
        with pytest.raises(ValidationError):
            membership_set(
                actor=world.guest_a, user=world.owner_a, tenant=world.acme, role=world.role(RoleName.GUEST)
            )
        with pytest.raises(ValidationError):
            membership_remove(actor=world.member_a, user=world.admin_a, tenant=world.acme)
        with pytest.raises(ValidationError):  # not a member of globex at all
            membership_remove(actor=world.admin_a, user=world.member_b, tenant=world.globex)
    # An equal or stronger actor may.
    membership_set(
        actor=world.admin_a, user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST)
    )
    assert membership(world.member_a, world.acme).role.name == RoleName.GUEST


def test_a_guest_cannot_take_over_the_owners_account(world, unchanged):
    staff = make_staff(world.guest_a)
    with unchanged():
        password = staff.post(
            reverse("admin:auth_user_password_change", args=[world.owner_a.pk]),
            {"password1": "taken-over-123!", "password2": "taken-over-123!", "usable_password": "true"},
        )
        deleted = staff.post(reverse("admin:accounts_user_delete", args=[world.owner_a.pk]), {"post": "yes"})
    assert password.status_code in (403, 404, 302) and deleted.status_code in (403, 302)
    assert not User.objects.get(pk=world.owner_a.pk).check_password("taken-over-123!")


def test_a_guest_cannot_rewrite_a_role_stronger_than_theirs(world, unchanged):
    editor = Role.objects.create(name="Editor", tenant=world.acme)
    RoleGrant.objects.create(role=editor, scope=Scope.objects.get(name="photos.delete"), reach="tenant")
    staff = make_staff(world.guest_a)
    url = reverse("admin:accounts_role_change", args=[editor.pk])
    with unchanged():
        staff.post(
            url,
            {"name": "Editor", "description": "", "grants-TOTAL_FORMS": "0", "grants-INITIAL_FORMS": "0"},
        )
        staff.post(reverse("admin:accounts_role_delete", args=[editor.pk]), {"post": "yes"})


# --- 4. Staff edit another tenant's role


@pytest.fixture
def globex_role(world) -> Role:
    """A role of globex that member_b holds."""
    role = Role.objects.create(name="Curator", tenant=world.globex)
    RoleGrant.objects.create(role=role, scope=Scope.objects.get(name="photos.read"), reach="tenant")
    Membership.objects.filter(user=world.member_b, tenant=world.globex).update(role=role)
    return role


def test_staff_cannot_see_or_move_another_tenants_role(world, globex_role, unchanged):
    staff = make_staff(world.admin_a)
    changelist = staff.get(reverse("admin:accounts_role_changelist"))
    assert globex_role not in changelist.context["cl"].queryset
    url = reverse("admin:accounts_role_change", args=[globex_role.pk])
    delete = Scope.objects.get(name="photos.delete")
    with unchanged():
        staff.post(
            url,
            {
                "name": "Curator",
                "description": "",
                "tenant": world.acme.pk,
                "grants-TOTAL_FORMS": "1",
                "grants-INITIAL_FORMS": "0",
                "grants-0-scope": delete.pk,
                "grants-0-reach": "tenant",
            },
        )
        staff.post(reverse("admin:accounts_role_delete", args=[globex_role.pk]), {"post": "yes"})
    assert staff.get(url).status_code in (302, 404)


def test_the_grant_check_uses_the_roles_own_tenant_not_the_posted_one(world, unchanged):
    # guest_a is a Guest in acme and an Owner of a tenant of their own.
    own = TenantFactory(slug="guest-own", name="Guest's own")
    MembershipFactory(user=world.guest_a, tenant=own, role=world.role(RoleName.OWNER))
    editor = Role.objects.create(name="Editor", tenant=world.acme)
    staff = make_staff(world.guest_a)
    url = reverse("admin:accounts_role_change", args=[editor.pk])
    data = form_data(staff.get(url))
    data["tenant"] = str(own.pk)
    add_inline_row(
        data,
        "grants",
        {"scope": Scope.objects.get(name="photos.delete").pk, "reach": "tenant", "role": editor.pk},
    )
    with unchanged():
        response = staff.post(url, data)
    assert response.status_code == 200


def test_staff_cannot_create_a_role_in_another_tenant(world, unchanged):
    staff = make_staff(world.admin_a)
    with unchanged():
        response = staff.post(
            reverse("admin:accounts_role_add"),
            {
                "name": "Spy",
                "tenant": world.globex.pk,
                "grants-TOTAL_FORMS": "0",
                "grants-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 200


def test_staff_cannot_give_another_tenants_member_or_role_in_a_membership(world, globex_role, unchanged):
    staff = make_staff(world.admin_a)
    add = reverse("admin:accounts_membership_add")
    with unchanged():
        for data in (
            {"user": world.member_b.pk, "tenant": world.globex.pk, "role": world.role(RoleName.GUEST).pk},
            {"user": world.outsider.pk, "tenant": world.acme.pk, "role": globex_role.pk},
        ):
            assert staff.post(add, data).status_code == 200


# --- Staff reach only their own tenants, and never the platform's powers


def test_staff_cannot_make_themselves_superuser(world):
    staff = make_staff(world.admin_a)
    data = user_form(staff, world.admin_a)
    data.update(
        first_name="Ada",
        is_superuser="on",
        user_permissions=[str(p.pk) for p in Permission.objects.all()],
        groups=[str(Group.objects.create(name="Everything").pk)],
    )
    staff.post(reverse("admin:accounts_user_change", args=[world.admin_a.pk]), data)
    world.admin_a.refresh_from_db()
    assert not world.admin_a.is_superuser
    assert world.admin_a.user_permissions.count() == len(EVERY_ADMIN_PERMISSION)
    assert not world.admin_a.groups.exists()


def test_staff_cannot_hand_a_group_every_permission(world):
    group = Group.objects.create(name="Helpdesk")
    world.admin_a.groups.add(group)
    staff = make_staff(world.admin_a)
    staff.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": "Helpdesk", "permissions": [str(p.pk) for p in Permission.objects.all()]},
    )
    staff.post(
        reverse("admin:auth_group_add"),
        {"name": "Mine", "permissions": [str(p.pk) for p in Permission.objects.all()]},
    )
    assert not group.permissions.exists()
    assert not Group.objects.filter(name="Mine").exists()


def test_staff_read_only_their_tenants_audit_log(world):
    audit_record(
        actor=world.member_b, action=AuditAction.MEMBERSHIP_CHANGED, target=world.globex, tenant=world.globex
    )
    audit_record(actor=None, action=AuditAction.SCOPE_CHANGED, target=Scope.objects.first())
    mine = audit_record(
        actor=world.owner_a, action=AuditAction.MEMBERSHIP_CHANGED, target=world.acme, tenant=world.acme
    )
    staff = make_staff(world.admin_a)
    listed = list(staff.get(reverse("admin:accounts_auditevent_changelist")).context["cl"].queryset)
    assert listed == [mine]
    foreign = AuditEvent.objects.get(tenant=world.globex)
    assert staff.get(reverse("admin:accounts_auditevent_change", args=[foreign.pk])).status_code == 302


def test_staff_cannot_revoke_another_tenants_consents_or_tokens(world, mint_token, unchanged):
    consent = ConsentFactory(user=world.member_b, tenant=world.globex, application=world.app)
    consent.scopes.set(Scope.objects.filter(name="photos.read"))
    token = mint_token(world.member_b, world.globex, ["photos.read"])
    RefreshToken.objects.create(
        user=world.member_b, tenant=world.globex, application=world.app, token="rt-b", access_token=token
    )
    staff = make_staff(world.admin_a)
    with unchanged():
        staff.post(
            reverse("admin:scopes_consent_changelist"),
            {"action": "revoke_consents", "_selected_action": [consent.pk]},
        )
        staff.post(
            reverse("admin:scopes_consent_change", args=[consent.pk]), {"remove_scopes": ["photos.read"]}
        )
        staff.post(
            reverse("admin:scopes_accesstoken_changelist"),
            {"action": "revoke_tokens", "_selected_action": [token.pk]},
        )
        staff.post(
            reverse("admin:scopes_refreshtoken_changelist"),
            {"action": "revoke_tokens", "_selected_action": [RefreshToken.objects.get().pk]},
        )
    assert Consent.objects.filter(pk=consent.pk).exists() and AccessToken.objects.filter(pk=token.pk).exists()


# --- 13. Adding a tenant with inline memberships


def test_staff_adding_a_tenant_with_memberships_gets_no_500(world, unchanged):
    staff = make_staff(world.admin_a)
    with unchanged():
        response = staff.post(
            reverse("admin:accounts_tenant_add"),
            {
                "name": "Initech",
                "slug": "initech",
                "is_active": "on",
                "memberships-TOTAL_FORMS": "1",
                "memberships-INITIAL_FORMS": "0",
                "memberships-0-user": str(world.member_a.pk),
                "memberships-0-role": str(world.role(RoleName.GUEST).pk),
            },
        )
    assert response.status_code in (200, 403)


# --- 10 and 12. The explain page


def _explain_page(client: Client) -> str:
    return client.get(reverse("admin-explain")).content.decode()


def test_the_explain_page_offers_staff_only_their_tenants(world, globex_role):
    ApplicationFactory(name="Globex Internal", client_id="globex-internal", tenant=world.globex)
    staff = make_staff(world.admin_a, [])
    form = staff.get(reverse("admin-explain")).context["form"]
    assert set(form.fields["tenant"].queryset) == {world.acme}
    assert world.member_b not in set(form.fields["user"].queryset)
    assert world.outsider not in set(form.fields["user"].queryset)
    assert {a.name for a in form.fields["application"].queryset} == {"Test Gallery"}
    page = _explain_page(staff)
    for secret in ("Globex", "member_b", "globex-internal", "Curator"):
        assert secret not in page


def test_the_explain_page_refuses_another_tenants_user_and_token(world, globex_role, api_client):
    staff = make_staff(world.admin_a, [])
    url = reverse("admin-explain")
    by_user = staff.post(url, {"user": world.member_b.pk, "tenant": world.acme.pk, "action": "photos.read"})
    assert "decision" not in by_user.context["result"]
    foreign = api_client(world.member_b, world.globex, ["photos.read"]).token.token
    by_token = staff.post(url, {"token": foreign, "tenant": world.acme.pk, "action": "photos.read"})
    body = by_token.content.decode()
    assert "No such token" in body and "Curator" not in body and "member_b" not in body


def test_the_explain_form_is_a_post_and_never_echoes_the_token(world, api_client):
    token = api_client(world.member_a, world.acme, ["photos.read"]).token.token
    staff = make_staff(world.admin_a, [])
    url = reverse("admin-explain")
    page = staff.get(url, {"token": token, "tenant": world.acme.pk, "action": "photos.read"})
    assert token not in page.content.decode() and "decision" not in page.context["result"]
    assert 'method="post"' in page.content.decode()
    answered = staff.post(url, {"token": token, "tenant": world.acme.pk, "action": "photos.read"})
    assert answered.context["result"]["decision"].allowed
    assert token not in answered.content.decode()
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(world.admin_a)
    assert (
        guarded.post(url, {"token": token, "tenant": world.acme.pk, "action": "photos.read"}).status_code
        == 403
    )


# --- Staff of acme: autocomplete, history, explain junk


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name"),
    [
        ("accounts", "membership", "user"),
        ("accounts", "membership", "tenant"),
    ],
)
def test_staff_autocomplete_shows_only_their_tenants(world, app_label, model_name, field_name):
    staff = make_staff(world.admin_a)
    response = staff.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": ""},
    )
    assert response.status_code in (200, 403, 404), response.status_code
    text = response.content.decode().lower()
    for foreign in ("globex", "member_b", "outsider"):
        assert foreign not in text, (foreign, text[:500])


def test_staff_history_of_another_tenants_rows_is_refused(world):
    staff = make_staff(world.admin_a)
    globex_membership = Membership.objects.get(user=world.member_b, tenant=world.globex)
    for url in (
        f"/admin/accounts/membership/{globex_membership.pk}/history/",
        f"/admin/accounts/tenant/{world.globex.pk}/history/",
        f"/admin/accounts/user/{world.member_b.pk}/history/",
    ):
        response = staff.get(url)
        assert response.status_code in (302, 403, 404) or "member_b" not in response.content.decode(), url


@pytest.mark.parametrize(
    "data",
    [
        {"tenant": "x", "action": "photos.read", "user": "y"},
        {"tenant": "99999999999999999999999", "action": "photos.read", "user": "1"},
        {"tenant": "1", "action": "photos.read", "token": "\x00" * 10},
        {"tenant": "1", "action": "photos.read", "token": "a" * 100000},
        {"tenant": "1", "action": "nope", "user": "1", "scopes": ["\u00e9", "photos.read"]},
        {
            "tenant": "1",
            "action": "photos.read",
            "user": "1",
            "resource": "photo",
            "object_id": "99999999999999999999",
        },
        {"tenant": "1", "action": "photos.read", "user": "1", "resource": "junk", "object_id": "1"},
        {"tenant": "1", "action": "photos.read", "user": "1", "application": "99999999999999999999999"},
    ],
)
def test_explain_post_junk_is_never_500(world, data):
    staff = make_staff(world.admin_a)
    data = {**data, "tenant": str(world.acme.pk) if data["tenant"] == "1" else data["tenant"]}
    if data.get("user") == "1":
        data["user"] = str(world.member_a.pk)
    response = staff.post("/admin/explain/", data)
    assert response.status_code < 500


def _user_add(staff: Client, **extra) -> object:
    data = {
        "username": "newcomer",
        "password1": "Very-long-pw-123!",
        "password2": "Very-long-pw-123!",
        "usable_password": "true",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(extra)
    return staff.post(reverse("admin:accounts_user_add"), data)


# --- The user add page


@pytest.mark.parametrize("what", ["stronger_role", "other_tenant", "foreign_role"])
def test_user_add_page_membership_inline_is_checked(world, unchanged, what):
    staff = make_staff(world.guest_a)
    other = Role.objects.create(name="Curator", tenant=world.globex)
    tenant, role = {
        "stronger_role": (world.acme, world.role(RoleName.OWNER)),
        "other_tenant": (world.globex, world.role(RoleName.GUEST)),
        "foreign_role": (world.acme, other),
    }[what]
    with unchanged():
        response = _user_add(
            staff,
            **{
                "memberships-TOTAL_FORMS": "1",
                "memberships-0-tenant": str(tenant.pk),
                "memberships-0-role": str(role.pk),
            },
        )
    assert response.status_code in (200, 403), response.status_code


def test_user_add_page_with_an_existing_membership_id_takes_nothing(world):
    staff = make_staff(world.admin_a)
    foreign = membership(world.member_b, world.globex)
    before = list(Membership.objects.order_by("pk").values_list())
    if True:
        response = _user_add(
            staff,
            **{
                "memberships-TOTAL_FORMS": "1",
                "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": str(foreign.pk),
                "memberships-0-tenant": str(world.acme.pk),
                "memberships-0-role": str(world.role(RoleName.GUEST).pk),
            },
        )
    assert response.status_code < 500, response.status_code
    assert list(Membership.objects.order_by("pk").values_list()) == before
    assert membership(world.member_b, world.globex).pk == foreign.pk


def test_user_add_page_cannot_make_staff_or_superuser(world):
    staff = make_staff(world.admin_a)
    _user_add(
        staff,
        is_staff="on",
        is_superuser="on",
        user_permissions=[str(p) for p in range(1, 50)],
        **{
            "memberships-TOTAL_FORMS": "1",
            "memberships-0-tenant": str(world.acme.pk),
            "memberships-0-role": str(world.role(RoleName.GUEST).pk),
        },
    )
    user = User.objects.filter(username="newcomer").first()
    if user is not None:
        assert not user.is_staff and not user.is_superuser and not user.user_permissions.exists()


@pytest.mark.parametrize("page", ["tenant", "own_user"])
def test_a_new_inline_row_naming_another_tenants_user_or_tenant_is_no_500(world, unchanged, page):
    """An invalid choice in the row: the formset's clean reads form.instance.<fk>, which is unset."""
    staff = make_staff(world.admin_a)
    if page == "tenant":
        url = reverse("admin:accounts_tenant_change", args=[world.acme.pk])
        data = form_data(staff.get(url))
        add_inline_row(
            data, "memberships", {"user": world.member_b.pk, "role": world.role(RoleName.GUEST).pk}
        )
    else:
        url = reverse("admin:accounts_user_change", args=[world.admin_a.pk])
        data = user_form(staff, world.admin_a)
        add_inline_row(
            data, "memberships", {"tenant": world.globex.pk, "role": world.role(RoleName.GUEST).pk}
        )
    before = list(Membership.objects.order_by("pk").values_list())
    response = staff.post(url, data)
    assert response.status_code in (200, 403), response.status_code
    assert list(Membership.objects.order_by("pk").values_list()) == before


# --- Bulk actions with another tenant's (or a stronger) ids


@pytest.fixture
def foreign_rows(world):
    role = Role.objects.create(name="Curator", tenant=world.globex)
    RoleGrant.objects.create(role=role, scope=Scope.objects.get(name="photos.read"), reach="tenant")
    strong = Role.objects.create(name="Boss", tenant=world.acme)
    RoleGrant.objects.create(role=strong, scope=Scope.objects.get(name="photos.delete"), reach="tenant")
    consent = ConsentFactory(user=world.member_b, tenant=world.globex, application=world.app)
    return {"globex_role": role, "strong_role": strong, "consent": consent}


@pytest.mark.parametrize(
    ("model", "action", "target"),
    [
        ("accounts_role", "delete_selected", "globex_role"),
        ("accounts_role", "delete_selected", "strong_role"),
        ("accounts_role", "delete_selected", "global_role"),
        ("accounts_membership", "delete_selected", "globex_membership"),
        ("accounts_membership", "delete_selected", "owner_membership"),
        ("accounts_user", "delete_selected", "member_b"),
        ("accounts_user", "delete_selected", "owner_a"),
        ("accounts_tenant", "delete_selected", "globex"),
        ("accounts_tenant", "delete_selected", "acme"),
        ("scopes_consent", "revoke_consents", "consent"),
    ],
)
def test_bulk_actions_on_foreign_or_stronger_rows_change_nothing(
    world, foreign_rows, unchanged, model, action, target
):
    staff = make_staff(world.member_a)
    pk = {
        "globex_role": lambda: foreign_rows["globex_role"].pk,
        "strong_role": lambda: foreign_rows["strong_role"].pk,
        "global_role": lambda: Role.objects.get(name="Guest", tenant=None).pk,
        "globex_membership": lambda: membership(world.member_b, world.globex).pk,
        "owner_membership": lambda: membership(world.owner_a, world.acme).pk,
        "member_b": lambda: world.member_b.pk,
        "owner_a": lambda: world.owner_a.pk,
        "globex": lambda: world.globex.pk,
        "acme": lambda: world.acme.pk,
        "consent": lambda: foreign_rows["consent"].pk,
    }[target]()
    with unchanged():
        response = staff.post(
            reverse(f"admin:{model}_changelist"),
            {"action": action, "_selected_action": [str(pk)], "post": "yes"},
        )
        staff.post(reverse(f"admin:{model}_delete", args=[pk]), {"post": "yes"})
    assert response.status_code < 500


# --- Inlines posted with another tenant's row ids


def test_tenant_inline_with_another_tenants_membership_id(world, unchanged):
    staff = make_staff(world.owner_a)
    url = reverse("admin:accounts_tenant_change", args=[world.acme.pk])
    data = form_data(staff.get(url))
    foreign = membership(world.member_b, world.globex)
    data["memberships-0-id"] = str(foreign.pk)
    data["memberships-0-role"] = str(world.role(RoleName.GUEST).pk)
    data["memberships-0-DELETE"] = "on"
    with unchanged():
        response = staff.post(url, data)
    assert response.status_code in (200, 302, 403)


def test_own_user_page_inline_with_another_tenants_membership_id(world, unchanged):
    staff = make_staff(world.owner_a)
    url = reverse("admin:accounts_user_change", args=[world.owner_a.pk])
    data = user_form(staff, world.owner_a)
    foreign = membership(world.member_b, world.globex)
    data["memberships-0-id"] = str(foreign.pk)
    data["memberships-0-DELETE"] = "on"
    before = list(Membership.objects.order_by("pk").values_list())
    response = staff.post(url, data)
    assert response.status_code in (200, 302, 403)
    assert list(Membership.objects.order_by("pk").values_list()) == before


def test_own_user_page_cannot_raise_own_role(world, unchanged):
    staff = make_staff(world.member_a)
    data = user_form(staff, world.member_a)
    data["memberships-0-role"] = str(world.role(RoleName.OWNER).pk)
    before = list(Membership.objects.order_by("pk").values_list())
    response = staff.post(reverse("admin:accounts_user_change", args=[world.member_a.pk]), data)
    assert response.status_code in (200, 403)
    assert list(Membership.objects.order_by("pk").values_list()) == before


def test_role_inline_with_another_roles_grant_id(world, foreign_rows, unchanged):
    staff = make_staff(world.member_a)
    mine = Role.objects.create(name="Helper", tenant=world.acme)
    RoleGrant.objects.create(role=mine, scope=Scope.objects.get(name="photos.read"), reach="own")
    url = reverse("admin:accounts_role_change", args=[mine.pk])
    data = form_data(staff.get(url))
    data["grants-0-id"] = str(RoleGrant.objects.get(role=foreign_rows["strong_role"]).pk)
    data["grants-0-DELETE"] = "on"
    with unchanged():
        response = staff.post(url, data)
    assert response.status_code in (200, 302, 403)


def test_role_grant_with_a_wider_reach_than_the_staffs_is_refused(world, unchanged):
    staff = make_staff(world.member_a)  # Member: photos.delete at reach own
    mine = Role.objects.create(name="Helper", tenant=world.acme)
    RoleGrant.objects.create(role=mine, scope=Scope.objects.get(name="photos.delete"), reach="own")
    url = reverse("admin:accounts_role_change", args=[mine.pk])
    data = form_data(staff.get(url))
    data["grants-0-reach"] = "tenant"
    with unchanged():
        changed = staff.post(url, data)
    data = form_data(staff.get(url))
    add_inline_row(data, "grants", {"scope": Scope.objects.get(name="photos.delete").pk, "reach": "tenant"})
    with unchanged():
        added = staff.post(url, data)
    assert changed.status_code in (200, 403) and added.status_code in (200, 403)


def test_role_add_page_with_a_wider_grant_is_refused(world, unchanged):
    staff = make_staff(world.member_a)
    with unchanged():
        response = staff.post(
            reverse("admin:accounts_role_add"),
            {
                "name": "Sneaky",
                "tenant": world.acme.pk,
                "grants-TOTAL_FORMS": "1",
                "grants-INITIAL_FORMS": "0",
                "grants-0-scope": Scope.objects.get(name="photos.delete").pk,
                "grants-0-reach": "tenant",
            },
        )
    assert response.status_code in (200, 403)


# --- Read-only fields posted anyway


def test_membership_change_page_ignores_posted_user_and_tenant(world, unchanged):
    staff = make_staff(world.admin_a)
    row = membership(world.member_a, world.acme)
    url = reverse("admin:accounts_membership_change", args=[row.pk])
    staff.post(
        url,
        {"user": world.owner_a.pk, "tenant": world.globex.pk, "role": world.role(RoleName.MEMBER).pk},
    )
    row.refresh_from_db()
    assert (row.user_id, row.tenant_id) == (world.member_a.pk, world.acme.pk)


def test_role_change_page_ignores_posted_tenant(world, unchanged):
    staff = make_staff(world.member_a)
    mine = Role.objects.create(name="Helper", tenant=world.acme)
    url = reverse("admin:accounts_role_change", args=[mine.pk])
    data = form_data(staff.get(url))
    data["tenant"] = str(world.globex.pk)
    staff.post(url, data)
    mine.refresh_from_db()
    assert mine.tenant_id == world.acme.pk
