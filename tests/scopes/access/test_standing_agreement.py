"""Every endpoint gives the same answer to "does this grant still stand, and may it read photos now?".

One grant is made through the real flow (owner_a (an Owner) in acme, `photos.write profile.read
offline_access` for the gallery app): an access token, a refresh token, and a second authorization
code not yet exchanged. Then one thing changes, and seven callers of `scopes.access.standing` are asked:

- the API (`GET photos/`), introspection (`active` and `scope`), the refresh grant, the code
  exchange, remembered consent (a new authorization request for the same scopes answers with a
  code without a page, and that code's token can read photos), the connected-apps page (is
  what it lists as in effect reads photos), and the admin's explain page (its context and decision).

Each answers True ("photos.read is allowed by this grant now") or False. The table says what every
one of them must answer after each change; they agree by construction, and this test holds it.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Tenant, User
from api.permissions import decide_for
from scopes.access.selectors import authorization_context, registry
from scopes.constants import ScopeName as S
from scopes.models import AccessToken, Application, ApplicationScope, Consent, RoleGrant, Scope
from scopes.registry import closure
from tests.factories import RoleFactory
from tests.oauth import GRANT_SCOPES, RS_SECRET, Flow, refresh

pytestmark = pytest.mark.django_db

ENDPOINTS = ("api", "introspection", "refresh", "code", "consent", "connected_apps", "explain")


def _reads(scope: str | None) -> bool:
    return bool(scope) and S.PHOTOS_READ in closure(scope.split(), registry().implications)


def _ask(world, grant) -> dict[str, bool]:
    access, refresh_token = grant.tokens["access_token"], grant.tokens["refresh_token"]
    answers: dict[str, bool] = {}
    api = Client(HTTP_AUTHORIZATION=f"Bearer {access}").get("/api/t/acme/photos/")
    answers["api"] = api.status_code == 200

    basic = base64.b64encode(f"photo-api:{RS_SECRET}".encode()).decode()
    described = Client().post("/o/introspect/", {"token": access}, HTTP_AUTHORIZATION=f"Basic {basic}").json()
    answers["introspection"] = described.get("active") is True and _reads(described.get("scope"))

    # The explain page's own path: the context it loads for a pasted token, and its decision.
    context = authorization_context(access)
    answers["explain"] = (
        context is not None
        and decide_for(
            context,
            tenant_slug="acme",
            action_scope=S.PHOTOS_READ,
            read_scope=S.PHOTOS_READ,
            target=None,
            resource="http://testserver/api/t/acme/",
        ).allowed
    )

    refreshed = refresh(world.app.client_id, refresh_token)
    answers["refresh"] = refreshed.status_code == 200 and _reads(refreshed.json().get("scope"))

    exchanged = grant.pending.exchange(grant.pending_response)
    answers["code"] = exchanged.status_code == 200 and _reads(exchanged.json().get("scope"))

    again = Flow(grant.browser, world.app.client_id, GRANT_SCOPES, extra={"tenant": "acme"})
    started = again.start()
    answers["consent"] = False
    if started.status_code == 302 and "code=" in started["Location"]:
        token = again.exchange(started)
        answers["consent"] = token.status_code == 200 and _reads(token.json().get("scope"))

    page = grant.browser.get("/account/apps/")
    html = page.content.decode() if page.status_code == 200 else ""
    # What the page lists as in effect, read under today's implications.
    in_effect = [
        name
        for item in re.findall(r"<li>.*?</li>", html, flags=re.S)
        for name in re.findall(r"<code>([^<]+)</code>", item)
        if "in-effect=" not in item and "Not in effect now:" not in html
    ]
    answers["connected_apps"] = _reads(" ".join(in_effect))
    return answers


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _lower_role(world) -> None:
    badge = RoleFactory(name="Badge only", tenant=world.acme)
    RoleGrant.objects.create(role=badge, scope=Scope.objects.get(name=S.PROFILE_READ), reach="own")
    RoleGrant.objects.create(role=badge, scope=Scope.objects.get(name=S.OFFLINE_ACCESS), reach="own")
    Membership.objects.filter(user=world.owner_a, tenant=world.acme).update(role=badge)


def _expire(world) -> None:
    AccessToken.objects.filter(user=world.owner_a).update(expires=timezone.now() - timedelta(seconds=1))


def _revoke_token(world) -> None:
    from scopes.consent.services import tokens_revoke

    tokens_revoke(actor=None, access_tokens=list(AccessToken.objects.filter(user=world.owner_a)))


def _drop_implication(world) -> None:
    write = Scope.objects.get(name=S.PHOTOS_WRITE)
    write.implies.remove(Scope.objects.get(name=S.PHOTOS_READ))


NONE = dict.fromkeys(ENDPOINTS, False)
TOKEN_ONLY = {**dict.fromkeys(ENDPOINTS, True), "api": False, "introspection": False, "explain": False}

CHANGES = {
    "nothing": (lambda w: None, dict.fromkeys(ENDPOINTS, True)),
    "user deactivated": (lambda w: User.objects.filter(pk=w.owner_a.pk).update(is_active=False), NONE),
    "membership removed": (
        lambda w: Membership.objects.filter(user=w.owner_a, tenant=w.acme).delete(),
        NONE,
    ),
    "role lowered": (_lower_role, NONE),
    "tenant deactivated": (lambda w: Tenant.objects.filter(pk=w.acme.pk).update(is_active=False), NONE),
    "consent narrowed": (
        lambda w: Consent.scopes.through.objects.filter(scope__name=S.PHOTOS_WRITE).delete(),
        NONE,
    ),
    "consent revoked": (
        lambda w: (_sql("DELETE FROM scopes_consent_scopes"), _sql("DELETE FROM scopes_consent")),
        NONE,
    ),
    "app scope removed": (
        lambda w: ApplicationScope.objects.filter(
            application=w.app, scope__name__in=[S.PHOTOS_WRITE, S.PHOTOS_READ]
        ).delete(),
        NONE,
    ),
    "app deleted": (lambda w: Application.objects.filter(pk=w.app.pk).delete(), NONE),
    "app limited to another tenant": (
        lambda w: Application.objects.filter(pk=w.app.pk).update(tenant=w.globex),
        NONE,
    ),
    "token revoked": (_revoke_token, {**TOKEN_ONLY, "refresh": False}),
    "token expired": (_expire, TOKEN_ONLY),
    "scope implication changed": (_drop_implication, NONE),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_endpoint_agrees_after_each_change(world, grant, change):
    apply, expected = CHANGES[change]
    apply(world)
    assert _ask(world, grant) == expected


# --- Agreement: an app rebound to another tenant (a superuser's edit, or an update()).


def test_an_app_moved_to_another_tenant_is_refused_alike_everywhere(world, grant):
    """The consent page no longer lets acme use the app; every other endpoint must agree."""
    Application.objects.filter(pk=world.app.pk).update(tenant=world.globex)
    answers = _ask(world, grant)
    assert answers["consent"] is False  # the authorize endpoint refuses acme now
    assert answers == dict.fromkeys(answers, False), answers


# --- A scope renamed: every endpoint must agree.


@pytest.mark.parametrize("how", ["save", "update", "sql"])
def test_a_scope_cannot_be_renamed_so_endpoints_never_disagree(world, grant, how):
    """Tokens carry scope names as text while consents and grants point at rows: a rename would
    split them, so the database refuses it, whoever writes (scopes.access.freshness.RENAME_REFUSED)."""
    from django.db import DatabaseError, transaction

    before = _ask_without_using(world, grant)
    with pytest.raises(DatabaseError), transaction.atomic():
        if how == "save":
            scope = Scope.objects.get(name="photos.write")
            scope.name = "photos.edit"
            scope.save()
        elif how == "update":
            Scope.objects.filter(name="photos.write").update(name="photos.edit")
        else:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE scopes_scope SET name = 'photos.edit' WHERE name = 'photos.write'")
    assert Scope.objects.filter(name="photos.write").exists()
    assert before == dict.fromkeys(before, True)


def test_a_scope_swap_is_refused_too(world, grant):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        Scope.objects.filter(name="photos.write").update(name="photos.old")
    assert set(Scope.objects.values_list("name", flat=True)) >= {"photos.write", "profile.read"}


def _ask_without_using(world, grant) -> dict[str, bool]:
    """The API and introspection answers (the parts of _ask that use nothing up)."""
    answers = _ask(world, grant)
    return {"api": answers["api"], "introspection": answers["introspection"], "explain": answers["explain"]}
