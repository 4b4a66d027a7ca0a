"""Third audit pass: admin add pages, bulk actions, inlines with foreign ids, read-only fields,
role grants, consent POSTs and /account/apps/ with foreign ids, concurrency on PostgreSQL.

Tests that fail on this branch are confirmed problems; the others guard cases that hold.

Confirmed: (1) a membership inline row with an invalid user/tenant choice is a 500 (the formset's
clean reads form.instance.<fk>); (2) PostgreSQL: a refresh token revoked while its refresh runs
still mints a working pair; (3) PostgreSQL: a code exchanged while its consent is revoked leaves a
refresh family that the revocation missed and that works again once the user re-consents.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.constants import RoleName
from accounts.models import Membership, Role, User
from scopes.models import Consent, RoleGrant, Scope
from tests.attacks.test_admin import make_staff
from tests.factories import ConsentFactory
from tests.project.admin_forms import add_inline_row, form_data

pytestmark = pytest.mark.django_db


def _m(user, tenant) -> Membership:
    return Membership.objects.get(user=user, tenant=tenant)


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


# --- 1. The user ADD page


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
    foreign = _m(world.member_b, world.globex)
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
    assert _m(world.member_b, world.globex).pk == foreign.pk


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
        from tests.attacks.test_admin import user_form

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
def foreign(world):
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
    world, foreign, unchanged, model, action, target
):
    staff = make_staff(world.member_a)
    pk = {
        "globex_role": lambda: foreign["globex_role"].pk,
        "strong_role": lambda: foreign["strong_role"].pk,
        "global_role": lambda: Role.objects.get(name="Guest", tenant=None).pk,
        "globex_membership": lambda: _m(world.member_b, world.globex).pk,
        "owner_membership": lambda: _m(world.owner_a, world.acme).pk,
        "member_b": lambda: world.member_b.pk,
        "owner_a": lambda: world.owner_a.pk,
        "globex": lambda: world.globex.pk,
        "acme": lambda: world.acme.pk,
        "consent": lambda: foreign["consent"].pk,
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
    foreign = _m(world.member_b, world.globex)
    data["memberships-0-id"] = str(foreign.pk)
    data["memberships-0-role"] = str(world.role(RoleName.GUEST).pk)
    data["memberships-0-DELETE"] = "on"
    with unchanged():
        response = staff.post(url, data)
    assert response.status_code in (200, 302, 403)


def test_own_user_page_inline_with_another_tenants_membership_id(world, unchanged):
    staff = make_staff(world.owner_a)
    url = reverse("admin:accounts_user_change", args=[world.owner_a.pk])
    from tests.attacks.test_admin import user_form

    data = user_form(staff, world.owner_a)
    foreign = _m(world.member_b, world.globex)
    data["memberships-0-id"] = str(foreign.pk)
    data["memberships-0-DELETE"] = "on"
    before = list(Membership.objects.order_by("pk").values_list())
    response = staff.post(url, data)
    assert response.status_code in (200, 302, 403)
    assert list(Membership.objects.order_by("pk").values_list()) == before


def test_own_user_page_cannot_raise_own_role(world, unchanged):
    staff = make_staff(world.member_a)
    from tests.attacks.test_admin import user_form

    data = user_form(staff, world.member_a)
    data["memberships-0-role"] = str(world.role(RoleName.OWNER).pk)
    before = list(Membership.objects.order_by("pk").values_list())
    response = staff.post(reverse("admin:accounts_user_change", args=[world.member_a.pk]), data)
    assert response.status_code in (200, 403)
    assert list(Membership.objects.order_by("pk").values_list()) == before


def test_role_inline_with_another_roles_grant_id(world, foreign, unchanged):
    staff = make_staff(world.member_a)
    mine = Role.objects.create(name="Helper", tenant=world.acme)
    RoleGrant.objects.create(role=mine, scope=Scope.objects.get(name="photos.read"), reach="own")
    url = reverse("admin:accounts_role_change", args=[mine.pk])
    data = form_data(staff.get(url))
    data["grants-0-id"] = str(RoleGrant.objects.get(role=foreign["strong_role"]).pk)
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
    row = _m(world.member_a, world.acme)
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


# --- 3. /account/apps/ with another user's consent id


def test_account_apps_refuse_another_users_consent(world, browser_of, unchanged):
    consent = ConsentFactory(user=world.member_b, tenant=world.globex, application=world.app)
    consent.scopes.set(Scope.objects.filter(name__in=["photos.read", "profile.read"]))
    own = ConsentFactory(user=world.member_a, tenant=world.acme, application=world.app)
    own.scopes.set(Scope.objects.filter(name__in=["photos.read"]))
    browser = browser_of(world.member_a)
    with unchanged():
        for path in (f"/account/apps/{consent.pk}/revoke/",):
            assert browser.post(path).status_code == 404
        r = browser.post(
            reverse("account-app-narrow", args=[consent.pk]),
            {"scope": ["photos.read"]},
        )
        assert r.status_code == 404
    assert Consent.objects.filter(pk=consent.pk).exists()


# --- 2. Concurrency (PostgreSQL): a refresh or a code exchange paused after validation while
#        the token is revoked, the consent taken back or the membership removed.

import threading  # noqa: E402

from django.db import connection, connections  # noqa: E402, F401  (skipif reads connection)

from scopes.models import AccessToken, RefreshToken  # noqa: E402
from scopes.oauth.validators import TenantOAuth2Validator  # noqa: E402
from tests.scopes.oauth import REDIRECT_URI, Flow, refresh  # noqa: E402

OFFLINE = "photos.read offline_access"


def _paused(monkeypatch, method: str):
    """Patch the validator's `method` so the request waits after it until `go` is set."""
    reached, go = threading.Event(), threading.Event()
    original = getattr(TenantOAuth2Validator, method)

    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        reached.set()
        go.wait(timeout=10)
        return result

    monkeypatch.setattr(TenantOAuth2Validator, method, wrapper)
    return reached, go


def _in_thread(call, answers: list) -> threading.Thread:
    def run() -> None:
        try:
            response = call()
            answers.append((response.status_code, response.content.decode()[:2000]))
        except Exception as error:  # a 500 raises out of the test client
            answers.append((500, repr(error)))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _api(access: str) -> int:
    return Client(HTTP_AUTHORIZATION=f"Bearer {access}").get("/api/t/acme/photos/").status_code


def _tokens(world, gallery, browser_of) -> tuple[Flow, dict]:
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    tokens = (
        Client()
        .post(
            "/o/token/",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": gallery.client_id,
                "code_verifier": flow.verifier,
            },
        )
        .json()
    )
    return flow, tokens


needs_pg = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent writers")


def _race(monkeypatch, method: str, first, second) -> list:
    reached, go = _paused(monkeypatch, method)
    answers: list = []
    thread = _in_thread(first, answers)
    assert reached.wait(timeout=10)
    monkeypatch.undo()
    try:
        second()
    finally:
        go.set()
        thread.join(timeout=30)
    return answers


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_revoked_while_its_refresh_runs_mints_nothing(
    world, gallery, browser_of, monkeypatch
):
    _flow, tokens = _tokens(world, gallery, browser_of)
    rt = tokens["refresh_token"]
    answers = _race(
        monkeypatch,
        "validate_refresh_token",
        lambda: refresh(gallery.client_id, rt),
        lambda: Client().post(
            "/o/revoke_token/",
            {"token": rt, "token_type_hint": "refresh_token", "client_id": gallery.client_id},
        ),
    )
    assert answers and answers[0][0] < 500, answers
    issued = answers[0][0] == 200 and _api(__import__("json").loads(answers[0][1])["access_token"]) == 200
    assert not issued, f"a revoked refresh token minted a working pair: {answers[0][1][:200]}"
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_consent_revoked_while_a_refresh_runs_leaves_no_live_family(
    world, gallery, browser_of, monkeypatch
):
    flow, tokens = _tokens(world, gallery, browser_of)
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    answers = _race(
        monkeypatch,
        "validate_refresh_token",
        lambda: refresh(gallery.client_id, tokens["refresh_token"]),
        lambda: flow.client.post(reverse("account-app-revoke", args=[consent.pk])),
    )
    assert answers and answers[0][0] < 500, answers
    assert not Consent.objects.filter(pk=consent.pk).exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists(), (
        "a live refresh token outlived its consent"
    )
    assert not AccessToken.objects.exists()


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_membership_removed_while_a_refresh_runs(world, gallery, browser_of, monkeypatch):
    from scopes.roles.services import membership_remove

    _flow, tokens = _tokens(world, gallery, browser_of)
    answers = _race(
        monkeypatch,
        "validate_refresh_token",
        lambda: refresh(gallery.client_id, tokens["refresh_token"]),
        lambda: membership_remove(actor=None, user=world.member_a, tenant=world.acme),
    )
    assert answers and answers[0][0] < 500, answers
    if answers[0][0] == 200:
        assert _api(__import__("json").loads(answers[0][1])["access_token"]) in (403, 404, 401)


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_consent_revoked_while_the_code_is_exchanged_leaves_no_family_to_revive(
    world, gallery, browser_of, monkeypatch
):
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": gallery.client_id,
        "code_verifier": flow.verifier,
    }
    """Revoking a consent kills what it issued; a refresh token minted in the race survives it and
    comes back to life when the user consents again later."""
    answers = _race(
        monkeypatch,
        "validate_code",
        lambda: Client().post("/o/token/", data),
        lambda: flow.client.post(reverse("account-app-revoke", args=[consent.pk])),
    )
    assert answers and answers[0][0] < 500, answers
    assert not Consent.objects.filter(pk=consent.pk).exists()
    if answers[0][0] == 200:
        pair = __import__("json").loads(answers[0][1])
        api_now = _api(pair["access_token"])
        # The user consents again, to the same app, later: the orphaned family must not come back.
        flow2 = Flow(flow.client, gallery.client_id, OFFLINE, extra={"tenant": "acme"})
        flow2.consent(flow2.start())
        renewed = refresh(gallery.client_id, pair["refresh_token"]) if "refresh_token" in pair else None
        assert api_now != 200 and (renewed is None or renewed.status_code != 200), (
            f"token issued after the consent was revoked: api {api_now}, "
            f"refresh after re-consent {renewed and renewed.status_code}"
        )


def test_a_code_issued_before_the_consent_was_revoked_is_refused_after(world, gallery, browser_of):
    """Guard: sequentially, a revoked consent's outstanding code yields nothing."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    flow.client.post(reverse("account-app-revoke", args=[consent.pk]))
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": gallery.client_id,
            "code_verifier": flow.verifier,
        },
    )
    assert response.status_code == 400
