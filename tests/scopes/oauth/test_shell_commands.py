"""The commands an operator or a developer runs in a shell: createapplication, personal_token, oauth_token.

Each writes through the services (their rules and audit rows), and each refusal changes nothing.
"""

from __future__ import annotations

import io

import pytest
import requests
from django.contrib.auth.hashers import check_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from scopes.machines.models import PersonalAccessToken
from scopes.machines.services import service_account_create
from scopes.models import AccessToken, Application, Scope
from scopes.services import AllowedScope, application_delete, application_save, application_scopes_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createapplication_registers_an_app_with_its_scopes_publisher_and_tenant(world):
    out = run(
        "createapplication",
        "confidential",
        "client-credentials",
        "--name=Importer",
        "--client-id=importer",
        "--publisher=Acme IT",
        "--tenant=acme",
        "--scope=photos.read",
        "--scope=photos.upload",
        "--required=photos.read",
        "--reason=photos.read=to find duplicates",
    )
    app = Application.objects.get(client_id="importer")
    assert (app.publisher, app.tenant, app.name) == ("Acme IT", world.acme, "Importer")
    links = {
        (link.scope.name, link.required, link.reason) for link in app.scope_links.select_related("scope")
    }
    assert links == {("photos.read", True, "to find duplicates"), ("photos.upload", False, "")}
    secret = out.split("stored hashed): ")[1].strip()
    assert check_password(secret, app.client_secret)
    labels = set(AuditEvent.objects.filter(target_id=str(app.pk)).values_list("action", "actor_label"))
    assert labels == {
        ("application.created", "manage.py createapplication"),
        ("application.scopes_changed", "manage.py createapplication"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["public", "implicit", "--name=x"], "invalid choice: 'implicit'"),
        (["public", "authorization-code", "--name=x", "--redirect-uris=ftp://x"], "invalid_scheme"),
        (
            ["public", "authorization-code", "--name=x", "--scope=photos.raed"],
            "Unknown scope(s): photos.raed",
        ),
        (["public", "authorization-code", "--name=x", "--tenant=initech"], "No tenant 'initech'"),
        (["public", "authorization-code", "--name=x", "--required=photos.read"], "--required and --reason"),
        (["confidential", "client-credentials", "--name=x", "--client-id=test-gallery"], "already exists"),
    ],
    ids=["grant", "redirect", "scope", "tenant", "required", "duplicate"],
)
def test_createapplication_refuses_what_the_server_does_not_support(world, args, message):
    before = (Application.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("createapplication", *args)
    assert (Application.objects.count(), AuditEvent.objects.count()) == before


def test_only_a_superuser_registers_changes_or_deletes_an_app(world):
    app = Application.objects.get(client_id="test-gallery")
    name = app.name
    app.name = "Renamed"
    with pytest.raises(PermissionDenied):
        application_save(actor=world.admin_a, application=app)
    with pytest.raises(PermissionDenied):
        application_delete(actor=world.admin_a, application=app)
    app.refresh_from_db()
    assert app.name == name


def test_a_service_accounts_app_is_changed_through_its_account_only(world):
    root = UserFactory(username="root", is_superuser=True)
    account, _ = service_account_create(
        actor=root, tenant=world.acme, name="Nightly", role=world.role("Member"), scopes=["photos.read"]
    )
    with pytest.raises(ValidationError, match="belongs to a service account"):
        application_delete(actor=root, application=account.application)
    assert Application.objects.filter(pk=account.application_id).exists()


def test_personal_token_prints_a_token_the_api_accepts(world, client):
    value = run("personal_token", "member_a", "--tenant=acme", "--scope=photos.read").strip()
    assert value.startswith("gpat_")
    answer = client.get("/api/t/acme/photos/", HTTP_AUTHORIZATION=f"Bearer {value}")
    assert answer.status_code == 200
    assert AuditEvent.objects.filter(
        action="personal_token.created", actor_label="member_a via manage.py personal_token"
    ).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["guest_a", "--tenant=acme", "--scope=photos.delete"],
            "Your role Guest in Acme does not allow photos.delete",
        ),
        (["member_a", "--tenant=globex", "--scope=photos.read"], "Choose one of your organisations"),
        (["member_a", "--tenant=acme", "--scope=photos.read", "--days=4000"], "between 1 and 365 days"),
        (["nobody", "--tenant=acme", "--scope=photos.read"], "No active user 'nobody'"),
        (["member_a", "--tenant=initech", "--scope=photos.read"], "No active organisation 'initech'"),
    ],
    ids=["beyond-role", "not-member", "lifetime", "user", "tenant"],
)
def test_personal_token_refuses_what_the_page_refuses(world, args, message):
    before = (AccessToken.objects.count(), PersonalAccessToken.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError, match=message):
        run("personal_token", *args)
    assert (
        AccessToken.objects.count(),
        PersonalAccessToken.objects.count(),
        AuditEvent.objects.count(),
    ) == before


@pytest.mark.django_db(transaction=True)
def test_oauth_token_runs_the_real_code_flow_against_a_running_server(live_server, world, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    world.member_a.set_password("pw")
    world.member_a.save()
    allowed = [AllowedScope(Scope.objects.get(name=name)) for name in ("photos.read", "audit.read")]
    application_scopes_set(actor=None, application=world.app, allowed=allowed)
    common = ["--password=pw", f"--server={live_server.url}", "--client=test-gallery"]
    token = run("oauth_token", "member_a", "--scope=photos.read", "--tenant=acme", *common).strip()
    answer = requests.get(
        f"{live_server.url}/api/t/acme/photos/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200 and answer.headers["X-OAuth-Scopes"] == "photos.read"
    with pytest.raises(CommandError, match="Sign-in refused"):
        run(
            "oauth_token",
            "member_a",
            "--scope=photos.read",
            "--password=wrong",
            f"--server={live_server.url}",
            "--client=test-gallery",
        )
    with pytest.raises(CommandError, match="offers nothing to allow"):
        run("oauth_token", "member_a", "--scope=audit.read", "--tenant=acme", *common)  # not a Member's
    with pytest.raises(CommandError, match="must be an http"):
        run("oauth_token", "member_a", "--scope=photos.read", "--server=file:///etc/passwd", "--password=pw")
