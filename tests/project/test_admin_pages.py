"""Every admin changelist, add and change page loads for a superuser; the scope form refuses cycles."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.audit_stream.models import AuditWebhook
from accounts.constants import RoleName
from scopes.machines.services import personal_token_create, service_account_create, token_policy_set
from scopes.models import Grant, IDToken, RefreshToken, Scope
from scopes.roles.services import membership_set
from scopes.tenant_policy.services import (
    access_request_file,
    app_policy_set,
    client_domain_block,
    tenant_app_set,
)
from tests.factories import AccessTokenFactory, ConsentFactory

REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_changelist_and_add_pages_load(superuser_client, world, model):
    opts = model._meta
    response = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    response = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert response.status_code in (200, 403)  # 403 only where adding is deliberately disabled


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_change_pages_load(superuser_client, world, model):
    token = AccessTokenFactory(user=world.member_a, tenant=world.acme, application=world.app)
    ConsentFactory(user=world.member_a, tenant=world.acme, application=world.app)
    RefreshToken.objects.create(
        user=world.member_a, tenant=world.acme, application=world.app, token="r", access_token=token
    )
    Grant.objects.create(
        user=world.member_a,
        tenant=world.acme,
        application=world.app,
        code="c",
        expires=timezone.now(),
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    IDToken.objects.create(user=world.member_a, application=world.app, expires=timezone.now())
    Group.objects.create(name="Support")
    membership_set(
        actor=world.owner_a, user=world.outsider, tenant=world.acme, role=world.role(RoleName.GUEST)
    )
    # Service accounts, personal access tokens and token policies (scopes.machines).
    service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Importer",
        role=world.role(RoleName.MEMBER),
        scopes=["photos.read"],
    )
    personal_token_create(actor=world.member_a, tenant=world.acme, name="cli", scopes=["photos.read"], days=7)
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=30)
    # The tenant app policy and its requests (scopes.tenant_policy), and an audit webhook, which
    # queues a delivery for every audit event that follows (accounts.audit_stream).
    AuditWebhook.objects.create(tenant=world.acme, url="https://example.com/hook", secret="s" * 32)
    app_policy_set(actor=world.owner_a, tenant=world.acme, mode="approved")
    tenant_app_set(actor=world.owner_a, tenant=world.acme, application=world.app, status="approved")
    access_request_file(
        requester=world.guest_a,
        tenant=world.acme,
        kind="scope",
        scopes=["photos.delete"],
    )
    client_domain_block(actor=world.owner_a, tenant=world.acme, domain="agents.example.com", note="spam")
    obj = model._base_manager.first()  # every tenant's rows (the tenant models' default refuses)
    assert obj is not None, f"the test world needs a {model._meta.label} row"
    opts = model._meta
    response = superuser_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert response.status_code == 200


def test_scope_admin_refuses_a_cycle(superuser_client, world):
    read = Scope.objects.get(name="photos.read")
    write = Scope.objects.get(name="photos.write")
    url = reverse("admin:scopes_scope_change", args=[read.pk])
    response = superuser_client.post(
        url, {"name": "photos.read", "description": read.description, "implies": [write.pk]}
    )
    assert response.status_code == 200
    assert "would form a cycle" in response.content.decode()
    assert "photos.read → photos.write → photos.read" in response.content.decode()
    assert not read.implies.exists()


def test_scope_admin_shows_closure_and_usage(superuser_client, world):
    write = Scope.objects.get(name="photos.write")
    response = superuser_client.get(reverse("admin:scopes_scope_change", args=[write.pk]))
    body = response.content.decode()
    assert "photos.delete, photos.read, photos.update, photos.upload" in body
    assert "Owner" in body


def test_scope_admin_refuses_an_unsafe_name(superuser_client, world):
    response = superuser_client.post(
        reverse("admin:scopes_scope_add"), {"name": 'bad"name', "description": "x"}
    )
    assert response.status_code == 200
    assert not Scope.objects.filter(name='bad"name').exists()
