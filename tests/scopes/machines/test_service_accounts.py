"""Service accounts: client credentials tokens judged by the one standing and the one decision."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership, User
from scopes.machines.models import ServiceAccount
from scopes.machines.services import (
    service_account_create,
    service_account_delete,
    service_account_rotate_secret,
    service_account_set_active,
)
from scopes.models import AccessToken, Application, Consent
from scopes.roles.services import membership_set
from tests.factories import PhotoFactory
from tests.images import upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def importer(world):
    """A service account with role Member in acme, created by acme's Admin."""
    account, secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Importer",
        role=world.role(RoleName.MEMBER),
        scopes=["photos.write", "albums.read"],
    )
    return account, secret


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_request(client_id: str, secret: str, scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return Client().post("/o/token/", data, HTTP_AUTHORIZATION=basic(client_id, secret))


def bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def test_a_member_service_account_uploads_deletes_its_own_and_not_a_colleagues(world, importer):
    account, secret = importer
    response = token_request(account.application.client_id, secret, "photos.read photos.upload photos.delete")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "photos.delete photos.read photos.upload"
    assert "refresh_token" not in body
    api = bearer(body["access_token"])

    created = api.post(
        "/api/t/acme/photos/", {"image": upload("scan.png"), "title": "Scan"}, format="multipart"
    )
    assert created.status_code == 201, created.content
    assert created.json()["owner"]["id"] == account.user_id
    assert created["X-OAuth-Scopes"] == "photos.delete photos.read photos.upload"

    colleagues = PhotoFactory(tenant=world.acme, owner=world.member_a)
    refused = api.delete(f"/api/t/acme/photos/{colleagues.pk}/")
    assert refused.status_code == 403
    assert refused.json()["reason"] == "not_owner"

    assert api.delete(f"/api/t/acme/photos/{created.json()['id']}/").status_code == 204
    assert api.get("/api/t/globex/photos/").status_code == 404


def test_a_scope_beyond_the_role_gives_a_narrower_token_that_says_so(world, importer):
    account, secret = importer
    membership_set(actor=world.admin_a, user=account.user, tenant=world.acme, role=world.role(RoleName.GUEST))
    response = token_request(account.application.client_id, secret, "photos.read photos.upload")
    assert response.status_code == 200
    assert response.json()["scope"] == "photos.read"
    token = AccessToken.objects.get(user=account.user)
    assert token.scope == "photos.read"


def test_a_scope_beyond_the_app_is_left_out_and_nothing_left_is_invalid_scope(world, importer):
    account, secret = importer
    narrowed = token_request(account.application.client_id, secret, "photos.read albums.write offline_access")
    # albums.write is not the app's: what of it the app holds (albums.read) is kept; offline_access goes
    assert narrowed.json()["scope"] == "albums.read photos.read"
    refused = token_request(account.application.client_id, secret, "offline_access profile.read")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


def test_no_scope_asked_gives_everything_the_account_may_do(world, importer):
    account, secret = importer
    response = token_request(account.application.client_id, secret)
    # photos.write was registered as the parts the role Member holds
    assert response.json()["scope"] == "albums.read photos.delete photos.read photos.update photos.upload"


def test_disabling_fails_the_next_call_and_the_next_token_request(world, importer):
    account, secret = importer
    value = token_request(account.application.client_id, secret, "photos.read").json()["access_token"]
    api = bearer(value)
    assert api.get("/api/t/acme/photos/").status_code == 200  # warm in this process's cache now
    service_account_set_active(actor=world.admin_a, account=account, active=False)
    assert api.get("/api/t/acme/photos/").status_code == 401
    again = token_request(account.application.client_id, secret, "photos.read")
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    assert AuditEvent.objects.filter(action=AuditAction.SERVICE_ACCOUNT_DISABLED).count() == 1


def test_a_user_deactivated_by_sql_is_refused_at_the_next_request(world, importer):
    """No service is needed: the standing reads the account's user, and freshness sees any writer."""
    account, secret = importer
    api = bearer(token_request(account.application.client_id, secret, "photos.read").json()["access_token"])
    assert api.get("/api/t/acme/photos/").status_code == 200
    User.objects.filter(pk=account.user_id).update(is_active=False)
    assert api.get("/api/t/acme/photos/").status_code == 401


def test_rotation_keeps_the_old_secret_for_the_overlap_only(world, importer):
    account, old = importer
    client_id = account.application.client_id
    new = service_account_rotate_secret(actor=world.admin_a, account=account, overlap=timedelta(hours=1))
    assert new != old
    assert token_request(client_id, new, "photos.read").status_code == 200
    assert token_request(client_id, old, "photos.read").status_code == 200  # within the overlap
    body = Client().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "scope": "photos.read",
            "client_id": client_id,
            "client_secret": old,
        },
    )
    assert body.status_code == 200  # the body's credentials too
    ServiceAccount.objects.filter(pk=account.pk).update(
        previous_secret_expires=timezone.now() - timedelta(seconds=1)
    )
    assert token_request(client_id, old, "photos.read").status_code == 401
    assert token_request(client_id, new, "photos.read").status_code == 200
    newest = service_account_rotate_secret(actor=world.admin_a, account=account, overlap=timedelta(0))
    assert token_request(client_id, new, "photos.read").status_code == 401  # no overlap asked
    assert token_request(client_id, newest, "photos.read").status_code == 200
    assert "stored hashed" and Application.objects.get(pk=account.application_id).client_secret != newest


def test_the_old_secret_of_one_account_does_not_open_another(world, importer):
    account, old = importer
    other, _other_secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Backup",
        role=world.role(RoleName.GUEST),
        scopes=["photos.read"],
    )
    service_account_rotate_secret(actor=world.admin_a, account=account, overlap=timedelta(hours=1))
    assert token_request(other.application.client_id, old, "photos.read").status_code == 401


def test_a_service_account_cannot_be_created_stronger_than_its_creator(world):
    before = (User.objects.count(), Application.objects.count(), Membership.objects.count())
    with pytest.raises(ValidationError) as refused:
        service_account_create(
            actor=world.member_a,
            tenant=world.acme,
            name="Sneaky",
            role=world.role(RoleName.ADMIN),
            scopes=["photos.read"],
        )
    assert refused.value.code == "escalation"
    with pytest.raises(ValidationError):
        service_account_create(
            actor=world.member_b,
            tenant=world.acme,
            name="Elsewhere",
            role=world.role(RoleName.GUEST),
            scopes=["photos.read"],
        )
    assert (User.objects.count(), Application.objects.count(), Membership.objects.count()) == before
    assert not ServiceAccount.objects.exists()


def test_scopes_beyond_the_accounts_role_are_refused_at_creation(world):
    with pytest.raises(ValidationError) as refused:
        service_account_create(
            actor=world.admin_a,
            tenant=world.acme,
            name="Reader",
            role=world.role(RoleName.GUEST),
            scopes=["photos.delete"],
        )
    assert refused.value.code == "beyond_role"


def test_a_member_cannot_disable_or_rotate_an_admins_service_account(world):
    account, _secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Ops",
        role=world.role(RoleName.ADMIN),
        scopes=["photos.write"],
    )
    for act in (
        lambda: service_account_set_active(actor=world.member_a, account=account, active=False),
        lambda: service_account_rotate_secret(actor=world.member_a, account=account),
        lambda: service_account_delete(actor=world.member_a, account=account),
    ):
        with pytest.raises(ValidationError):
            act()
    account.refresh_from_db()
    assert account.user.is_active


def test_delete_removes_app_tokens_consent_and_membership_and_keeps_its_photos(world, importer):
    account, secret = importer
    token_request(account.application.client_id, secret, "photos.read")
    photo = PhotoFactory(tenant=world.acme, owner=account.user)
    service_account_delete(actor=world.admin_a, account=account)
    assert not Application.objects.filter(pk=account.application_id).exists()
    assert not AccessToken.objects.filter(user=account.user).exists()
    assert not Consent.objects.filter(user=account.user).exists()
    assert not Membership.objects.filter(user=account.user).exists()
    assert (
        photo.__class__.all_tenants.filter(pk=photo.pk).exists()
        if hasattr(photo.__class__, "all_tenants")
        else photo.__class__.objects.filter(pk=photo.pk).exists()
    )
    assert token_request(account.application.client_id, secret, "photos.read").status_code == 401


def test_a_service_account_cannot_sign_in(world, importer):
    account, secret = importer
    assert not account.user.has_usable_password()
    assert not Client().login(username=account.user.username, password=secret)


def test_introspection_says_which_kind_and_the_principal(world, importer):
    account, secret = importer
    value = token_request(account.application.client_id, secret, "photos.read").json()["access_token"]
    answer = (
        Client()
        .post(
            "/o/introspect/",
            {"token": value},
            HTTP_AUTHORIZATION=basic(account.application.client_id, secret),
        )
        .json()
    )
    assert answer["active"] is True
    assert answer["token_kind"] == "service"
    assert answer["username"] == account.user.username
    assert answer["tenant"] == "acme"
    assert answer["scope"] == "photos.read"


def test_metadata_lists_client_credentials(world):
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert "client_credentials" in data["grant_types_supported"]
