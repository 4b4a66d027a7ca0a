"""A staff user of acme sees none of globex's rows on any admin screen, on SQLite as on PostgreSQL.

On PostgreSQL row-level security hides most of them anyway; these tests hold on SQLite, where
the ORM scoping in the admin (`accounts.admin.StaffScopedAdmin`, `StaffChoicesMixin`) is the
only wall, and for the tables row-level security leaves open (users, apps, the audit log).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership, Role, Tenant, User
from accounts.services import audit_record
from scopes.models import Grant, RefreshToken, RoleGrant, Scope
from tests.factories import AccessTokenFactory, ApplicationFactory, ConsentFactory

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)
# Screens staff never see at all (the audit stream's endpoints and deliveries hold webhook secrets).
SUPERUSERS_ONLY = {"accounts.AuditWebhook", "accounts.AuditDelivery"}


@pytest.fixture
def globex_rows(world) -> dict[str, models.Model]:
    """One row of globex (or only globex's) for every admin screen that could show one."""
    role = Role.objects.create(name="Curator", tenant=world.globex)
    RoleGrant.objects.create(role=role, scope=Scope.objects.get(name="photos.read"), reach="tenant")
    app = ApplicationFactory(name="Globex Internal", client_id="globex-internal", tenant=world.globex)
    token = AccessTokenFactory(user=world.member_b, tenant=world.globex, application=world.app)
    return {
        "accounts.Tenant": world.globex,
        "accounts.User": world.member_b,
        "accounts.Role": role,
        "accounts.Membership": Membership.objects.get(user=world.member_b),
        "accounts.AuditEvent": audit_record(
            actor=world.member_b,
            action=AuditAction.MEMBERSHIP_CHANGED,
            target=world.globex,
            tenant=world.globex,
        ),
        "scopes.Application": app,
        "scopes.Consent": ConsentFactory(user=world.member_b, tenant=world.globex, application=world.app),
        "scopes.AccessToken": token,
        "scopes.RefreshToken": RefreshToken.objects.create(
            user=world.member_b, tenant=world.globex, application=world.app, token="rt-b", access_token=token
        ),
        "scopes.Grant": Grant.objects.create(
            user=world.member_b,
            tenant=world.globex,
            application=world.app,
            code="globex-code",
            expires=timezone.now(),
            redirect_uri="http://127.0.0.1:8765/callback",
        ),
    }


@pytest.fixture
def acme_staff(world) -> Client:
    """admin_a (Admin of acme) as staff holding every view permission there is."""
    world.admin_a.is_staff = True
    world.admin_a.save()
    world.admin_a.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client = Client()
    client.force_login(world.admin_a)
    return client


def tenants_of(obj: models.Model) -> set[int | None]:
    """The tenants a row belongs to (None: global, everyone's)."""
    if isinstance(obj, Tenant):
        return {obj.pk}
    if isinstance(obj, User):
        return set(Membership.objects.filter(user=obj).values_list("tenant_id", flat=True))
    return {obj.tenant_id}  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_staff_see_none_of_another_tenants_rows(acme_staff, world, globex_rows, model):
    opts = model._meta
    response = acme_staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    if opts.label in SUPERUSERS_ONLY:
        assert response.status_code == 403  # not even their own tenant's rows
        return
    assert response.status_code == 200
    if not any(f.name == "tenant" for f in opts.get_fields()) and model not in (Tenant, User):
        return  # the scope registry and Django's groups belong to no tenant
    for row in response.context["cl"].queryset:
        assert tenants_of(row) & {None, world.acme.pk}, f"{opts.label} {row} of another tenant is listed"
    foreign = globex_rows.get(opts.label)
    if foreign is not None:
        page = acme_staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[foreign.pk]))
        assert page.status_code == 302 and page["Location"] == reverse("admin:index")
        history = acme_staff.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[foreign.pk])
        )
        assert history.status_code == 302


def test_a_superuser_sees_every_tenant(client, world, globex_rows, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    for label, row in globex_rows.items():
        app_label, model_name = label.lower().split(".")
        response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
        assert row in response.context["cl"].queryset, label


def test_the_changelist_filters_name_no_other_tenant(acme_staff, world, globex_rows):
    for url in (
        reverse("admin:accounts_membership_changelist"),
        reverse("admin:accounts_auditevent_changelist"),
        reverse("admin:accounts_role_changelist"),
        reverse("admin:scopes_consent_changelist"),
        reverse("admin:scopes_accesstoken_changelist"),
        reverse("admin:scopes_application_changelist"),
        reverse("admin:accounts_user_changelist"),
    ):
        body = acme_staff.get(url).content.decode()
        for name in ("Globex", "globex", "member_b", "Curator"):
            assert name not in body, f"{url} names {name}"


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name", "term", "foreign"),
    [
        ("accounts", "membership", "user", "member", "member_b"),
        ("accounts", "membership", "tenant", "", "Globex"),
        ("accounts", "membership", "role", "", "Curator"),
        ("accounts", "role", "tenant", "", "Globex"),
    ],
)
def test_autocomplete_offers_no_other_tenants_rows(
    acme_staff, world, globex_rows, app_label, model_name, field_name, term, foreign
):
    response = acme_staff.get(
        reverse("admin:autocomplete"),
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    assert foreign not in {r["text"].split(" ")[0] for r in response.json()["results"]}
    assert foreign not in response.content.decode()


def test_the_audit_log_of_no_tenant_is_the_platforms(acme_staff, world):
    audit_record(actor=None, action=AuditAction.SCOPE_CHANGED, target=Scope.objects.first())
    listed = acme_staff.get(reverse("admin:accounts_auditevent_changelist")).context["cl"].queryset
    assert not listed.filter(tenant__isnull=True).exists()
    assert AuditEvent.objects.filter(tenant__isnull=True).exists()
