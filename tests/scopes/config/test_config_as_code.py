"""Config as code: export -> edit -> apply, through the services, planned first, idempotent, refused with reasons."""

from __future__ import annotations

import io

import pytest
import yaml
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent, Membership, Role
from scopes.config.document import DocumentError, dump, parse
from scopes.config.state import current
from scopes.models import Application, RoleGrant, Scope
from scopes.tenant_policy.models import TenantApp, TenantAppPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(world):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def export() -> dict:
    out = io.StringIO()
    call_command("export_config", stdout=out)
    return yaml.safe_load(out.getvalue())


def apply(tmp_path, data: dict, *args: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = io.StringIO()
    call_command("apply_config", str(path), *args, stdout=out)
    return out.getvalue()


def database() -> dict:
    """Everything a document can change, and the audit log's length."""
    return {
        "config": current(),
        "audit": AuditEvent.objects.count(),
    }


def role(data: dict, name: str, tenant: str | None = None) -> dict:
    return next(r for r in data["roles"] if r["name"] == name and r["tenant"] == tenant)


def tenant(data: dict, slug: str) -> dict:
    return next(t for t in data["tenants"] if t["slug"] == slug)


def edited(data: dict) -> dict:
    """A scope added, the Member role narrowed, acme's policy tightened, an app added and one narrowed."""
    data["scopes"].append(
        {"name": "albums.share", "description": "Share albums.", "implies": ["albums.read"]}
    )
    del role(data, "Member")["grants"]["photos.delete"]
    tenant(data, "acme")["app_policy"] = "approved"
    tenant(data, "acme")["apps"] = {"test-gallery": {"status": "approved", "cap": ["photos.read"]}}
    gallery = next(a for a in data["apps"] if a["client_id"] == "test-gallery")
    gallery["scopes"] = {"photos.read": {"required": False, "reason": "to show photos"}}
    data["apps"].append(
        {
            "client_id": "nightly-report",
            "name": "Nightly report",
            "client_type": "confidential",
            "grant_type": "authorization-code",
            "redirect_uris": ["https://reports.example.com/callback"],
            "scopes": {"photos.read": {"reason": "to count photos"}},
        }
    )
    return data


def test_the_export_is_the_database_and_reads_back_as_itself(world):
    data = export()
    assert parse(yaml.safe_dump(data)) == current()
    text = io.StringIO()
    call_command("export_config", stdout=text)
    assert dump(current()) == text.getvalue()  # stable: the same database, the same bytes
    assert "client_secret" not in text.getvalue()
    assert {a["client_id"] for a in data["apps"]} == {"test-gallery"}  # no personal-token or service app


def test_applying_the_export_unchanged_changes_nothing(world, superuser, tmp_path):
    before = database()
    assert "No changes" in apply(tmp_path, export(), "--as", "root", "--yes")
    assert database() == before


def test_the_plan_is_shown_and_nothing_is_written_without_confirmation(
    world, superuser, tmp_path, mint_token
):
    mint_token(world.member_a, world.acme, ["photos.delete"])
    before = database()
    out = apply(tmp_path, edited(export()), "--as", "root")  # no --yes, no terminal to ask in
    assert "Plan: 2 to add, 3 to change, 0 to remove." in out
    assert (
        "+ scope albums.share" in out
        and "~ role Member (global)" in out
        and "grant photos.delete: own -> none" in out
    )
    assert "app_policy: 'any' -> 'approved'" in out and "+ app nightly-report" in out
    # The what-if, judged by the API's own decision: member_a and their live token lose photos.delete.
    assert "photos.delete: " in out and "member_a" in out and "1 live token would lose it" in out
    assert "Nothing was changed." in out
    assert database() == before
    assert "Nothing was changed." in apply(tmp_path, edited(export()), "--as", "root", "--plan", "--yes")
    assert database() == before


def test_applying_writes_through_the_services_audited_as_the_command_and_a_second_apply_changes_nothing(
    world, superuser, tmp_path
):
    audit_before = AuditEvent.objects.count()
    out = apply(tmp_path, edited(export()), "--as", "root", "--yes")
    assert "Applied: 2 added, 3 changed, 0 removed." in out
    assert "nightly-report: client secret (shown once, stored hashed): " in out
    assert Scope.objects.get(name="albums.share").implies.get().name == "albums.read"
    member = Role.objects.get(name="Member", tenant=None)
    assert not RoleGrant.objects.filter(role=member, scope__name="photos.delete").exists()
    assert TenantAppPolicy.objects.for_tenant(world.acme).get().mode == "approved"
    decision = TenantApp.objects.for_tenant(world.acme).get(application__client_id="test-gallery")
    assert decision.status == "approved" and [s.name for s in decision.cap.all()] == ["photos.read"]
    app = Application.objects.get(client_id="nightly-report")
    secret = out.split("stored hashed): ")[1].split()[0]
    assert app.client_secret != secret and check_password(secret, app.client_secret)  # stored hashed
    events = AuditEvent.objects.order_by("pk")[audit_before:]
    assert {e.action for e in events} >= {
        "scope.created",
        "grant.deleted",
        "app_policy.changed",
        "tenant_app.changed",
        "application.created",
        "application.scopes_changed",
    }
    assert {e.actor_label for e in events} == {"root via manage.py apply_config"}
    again = database()
    assert "No changes" in apply(tmp_path, export(), "--as", "root", "--yes")
    assert database() == again


def test_a_document_giving_more_than_the_actor_holds_is_refused_with_the_reason(world, tmp_path):
    """member_a (Member in acme) may not write a role reaching further than their own, nor the registry."""
    data = export()
    data["roles"].append(
        {"name": "Deleter", "tenant": "acme", "description": "", "grants": {"photos.delete": "tenant"}}
    )
    before = database()
    with pytest.raises(CommandError) as refused:
        apply(tmp_path, data, "--as", "member_a", "--yes")
    assert "role Deleter of acme: You cannot give photos.delete (tenant) in Acme" in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert database() == before
    data = export()
    role(data, "Guest")["grants"]["photos.delete"] = "tenant"
    with pytest.raises(CommandError, match="role Guest \\(global\\): Only a superuser changes a global role"):
        apply(tmp_path, data, "--as", "admin_a", "--yes")
    assert database() == before


def test_removals_are_planned_and_a_role_still_held_is_refused(world, superuser, tmp_path):
    data = export()
    data["roles"] = [r for r in data["roles"] if r["name"] != "Guest"]
    before = database()
    with pytest.raises(CommandError, match="role Guest \\(global\\): 1 member\\(s\\) hold the role Guest"):
        apply(tmp_path, data, "--as", "root", "--yes")
    assert database() == before
    data = export()
    data["apps"] = []
    tenant(data, "acme")["apps"] = {}
    out = apply(tmp_path, data, "--as", "root", "--yes")
    assert "- app test-gallery" in out and "Applied: 0 added, 0 changed, 1 removed." in out
    assert not Application.objects.filter(client_id="test-gallery").exists()
    assert AuditEvent.objects.filter(
        action="application.deleted", actor_label="root via manage.py apply_config"
    ).exists()


def test_a_scope_still_in_use_is_not_removed(world, superuser, tmp_path, mint_token):
    data = export()
    data["scopes"] = [s for s in data["scopes"] if s["name"] != "audit.read"]
    for r in data["roles"]:
        r["grants"].pop("audit.read", None)
    for a in data["apps"]:
        a["scopes"].pop("audit.read", None)
    membership_count = Membership.objects.count()
    # A consent still names it (a token was granted it): the service refuses, with who uses it.
    mint_token(world.admin_a, world.acme, ["audit.read"])
    before = database()
    with pytest.raises(CommandError, match=r"scope audit\.read: The scope audit\.read is still in use"):
        apply(tmp_path, data, "--as", "root", "--yes")
    assert database() == before and Membership.objects.count() == membership_count


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=2), "version: this server reads version 1"),
        (lambda d: d["scopes"][0].update(colour="red"), "scopes[0]: unknown field(s) colour"),
        (
            lambda d: role(d, "Member")["grants"].update({"photos.raed": "own"}),
            "unknown scope(s) photos.raed",
        ),
        (
            lambda d: role(d, "Member")["grants"].update({"photos.read": "everywhere"}),
            "'everywhere' is not one of",
        ),
        (lambda d: d["scopes"].append(dict(d["scopes"][0])), "scope 'albums.read' is listed twice"),
        (
            lambda d: tenant(d, "acme").update(app_policy="open"),
            "tenants[0].app_policy: 'open' is not one of",
        ),
        (
            lambda d: d["apps"][0].update(grant_type="password"),
            "apps[0].grant_type: 'password' is not one of",
        ),
        (
            lambda d: next(s for s in d["scopes"] if s["name"] == "albums.read").update(
                implies=["albums.write"]
            ),
            "implications would form a cycle: albums.read → albums.write → albums.read",
        ),
        (lambda d: d["tenants"].append({"slug": "initech"}), "tenant initech: no such tenant"),
        (
            lambda d: tenant(d, "acme").update(apps={"nope": {"status": "blocked"}}),
            "apps not in the document's apps: nope",
        ),
    ],
    ids=["version", "field", "scope", "reach", "twice", "policy", "grant", "cycle", "tenant", "app"],
)
def test_a_broken_document_is_refused_with_where_and_why(world, superuser, tmp_path, change, message):
    data = export()
    change(data)
    before = database()
    with pytest.raises(CommandError) as refused:
        apply(tmp_path, data, "--as", "root", "--yes")
    assert message in str(refused.value)
    assert database() == before


def test_the_parser_refuses_what_is_not_a_document():
    with pytest.raises(DocumentError, match="expected a mapping"):
        parse("- a list")
    with pytest.raises(DocumentError, match="Not valid YAML"):
        parse("version: [1")
    with pytest.raises(DocumentError, match="missing version"):
        parse("{}")


def test_an_unknown_actor_is_refused(world, tmp_path):
    with pytest.raises(CommandError, match="No active user 'nobody'"):
        apply(tmp_path, export(), "--as", "nobody", "--yes")


def test_a_scopes_step_up_is_exported_applied_and_audited(world, superuser, tmp_path):
    """The sign-in a scope needs (docs/security.md, "Sign-in levels and step-up") is config too."""
    data = export()
    scope = next(s for s in data["scopes"] if s["name"] == "photos.delete")
    assert "required_acr" not in scope and "max_age" not in scope  # none set: the document as before
    scope.update(required_acr="mfa", max_age=600)
    out = apply(tmp_path, data, "--as", "root", "--yes")
    assert "required_acr: '' -> 'mfa'" in out and "max_age: None -> 600" in out
    stored = Scope.objects.get(name="photos.delete")
    assert (stored.required_acr, stored.max_age) == ("mfa", 600)
    event = AuditEvent.objects.filter(action="scope.changed").latest("pk")
    assert event.after["required_acr"] == "mfa" and event.after["max_age"] == 600
    assert next(s for s in export()["scopes"] if s["name"] == "photos.delete")["max_age"] == 600
    scope.update(required_acr="root")
    before = database()
    with pytest.raises(CommandError) as refused:
        apply(tmp_path, data, "--as", "root", "--yes")
    assert "required_acr: 'root' is not one of" in str(refused.value)
    assert database() == before
