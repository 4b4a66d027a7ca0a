"""Personal access tokens: made on /account/tokens/, hashed, prefixed, judged like every token."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.constants import RoleName
from accounts.models import AuditEvent
from scopes.machines import usage
from scopes.machines.models import PersonalAccessToken, TokenPolicy
from scopes.machines.services import personal_token_create, personal_token_revoke, token_policy_set
from scopes.models import AccessToken
from tests.answers import parse_challenge

pytestmark = pytest.mark.django_db


def bearer(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def make(world, user=None, tenant=None, scopes=("photos.read",), days=30, name="script"):
    return personal_token_create(
        actor=user or world.member_a, tenant=tenant or world.acme, name=name, scopes=list(scopes), days=days
    )


def unchanged():
    return (AccessToken.objects.count(), PersonalAccessToken.objects.count(), AuditEvent.objects.count())


def test_the_value_is_prefixed_shown_once_and_only_its_hash_is_stored(world):
    personal, value = make(world)
    assert value.startswith("gpat_") and len(value) > 40
    token = personal.access_token
    token.refresh_from_db()
    assert token.token == ""
    assert token.token_checksum == hashlib.sha256(value.encode()).hexdigest()
    assert personal.hint == value[:9]
    with connection.cursor() as cursor:  # nowhere in the tables this feature writes
        for table in ("scopes_accesstoken", "scopes_personalaccesstoken", "accounts_auditevent"):
            cursor.execute(f"SELECT * FROM {table}")
            assert value not in repr(cursor.fetchall())


def test_a_token_is_judged_like_every_token(world):
    _personal, value = make(world, scopes=["photos.read", "photos.delete"])
    api = bearer(value)
    listed = api.get("/api/t/acme/photos/")
    assert listed.status_code == 200
    assert listed["X-OAuth-Scopes"] == "photos.delete photos.read"
    upload = api.post("/api/t/acme/photos/", {}, format="multipart")
    assert upload.status_code == 403 and upload.json()["reason"] == "scope_missing"
    assert api.get("/api/t/globex/photos/").status_code == 404


def test_a_lowered_role_narrows_a_live_token_at_once(world):
    from scopes.roles.services import membership_set

    _personal, value = make(world, scopes=["photos.read", "photos.delete"])
    api = bearer(value)
    membership_set(
        actor=world.owner_a, user=world.member_a, tenant=world.acme, role=world.role(RoleName.GUEST)
    )
    refused = api.delete("/api/t/acme/photos/1/")
    assert refused.status_code == 403 and refused.json()["reason"] == "role_forbids"


def test_revoked_is_refused_at_the_next_request(world):
    personal, value = make(world)
    api = bearer(value)
    assert api.get("/api/t/acme/photos/").status_code == 200
    personal_token_revoke(actor=world.member_a, personal=personal)
    assert api.get("/api/t/acme/photos/").status_code == 401
    assert not PersonalAccessToken.objects.exists()


def test_last_used_is_written_at_most_once_per_interval(world, settings):
    usage.forget()
    personal, value = make(world)
    api = bearer(value)
    assert personal.last_used_at is None
    api.get("/api/t/acme/photos/")
    personal.refresh_from_db()
    assert personal.last_used_at is None  # noted in memory: the request wrote nothing
    assert usage.flush() == 1  # the bookkeeping thread's batch
    personal.refresh_from_db()
    first = personal.last_used_at
    assert first is not None
    api.get("/api/t/acme/photos/")
    assert usage.flush() == 0  # remembered in this process: nothing noted, no second write
    personal.refresh_from_db()
    assert personal.last_used_at == first
    settings.PERSONAL_TOKEN_LAST_USED_MINUTES = 0
    api.get("/api/t/acme/photos/")
    usage.flush()
    personal.refresh_from_db()
    assert personal.last_used_at > first


def test_a_warm_personal_token_costs_only_the_probe(world, django_assert_num_queries, tenancy_statements):
    usage.forget()
    _personal, value = make(world)
    api = bearer(value)
    api.get("/api/t/acme/me/")  # warm, and its use recorded
    with django_assert_num_queries(tenancy_statements):
        assert api.get("/api/t/acme/me/").status_code in (200, 403)


def test_a_tenant_that_forbids_them_refuses_them_at_use(world):
    _personal, value = make(world)
    api = bearer(value)
    assert api.get("/api/t/acme/photos/").status_code == 200
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="forbidden", max_days=365)
    refused = api.get("/api/t/acme/photos/")
    assert refused.status_code == 401
    assert "does not allow personal access tokens" in refused.json()["detail"]
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=365)
    assert api.get("/api/t/acme/photos/").status_code == 200


def test_a_policy_changed_by_sql_applies_at_the_next_request(world):
    """Freshness: the policy row's trigger moves the tenant's version, whoever writes."""
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=365)
    _personal, value = make(world)
    api = bearer(value)
    assert api.get("/api/t/acme/photos/").status_code == 200
    TokenPolicy.objects.filter(tenant=world.acme).update(personal_tokens="forbidden")
    assert api.get("/api/t/acme/photos/").status_code == 401
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scopes_tokenpolicy WHERE tenant_id = %s", [world.acme.pk])
    assert api.get("/api/t/acme/photos/").status_code == 200


def test_a_forbidding_tenant_leaves_other_kinds_of_token_alone(world, api_client):
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="forbidden", max_days=365)
    assert (
        api_client(world.member_a, world.acme, ["photos.read"]).get("/api/t/acme/photos/").status_code == 200
    )


# --- Refused at creation: nothing is written


def test_a_token_for_another_tenant_is_refused(world):
    before = unchanged()
    with pytest.raises(ValidationError) as refused:
        make(world, user=world.member_a, tenant=world.globex)
    assert refused.value.code == "not_member"
    assert unchanged() == before


@pytest.mark.parametrize("days", [0, -1, 366, 10_000])
def test_a_lifetime_past_the_maximum_is_refused(world, days):
    before = unchanged()
    with pytest.raises(ValidationError) as refused:
        make(world, days=days)
    assert refused.value.code == "lifetime"
    assert unchanged() == before


def test_the_tenant_sets_the_maximum(world):
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=30)
    make(world, days=30)
    with pytest.raises(ValidationError):
        make(world, days=31)


@pytest.mark.parametrize(
    ("role_user", "scopes"),
    [("guest_a", ["photos.upload"]), ("guest_a", ["photos.write"]), ("member_a", ["offline_access"])],
)
def test_wider_than_the_role_is_refused(world, role_user, scopes):
    before = unchanged()
    with pytest.raises(ValidationError):
        make(world, user=getattr(world, role_user), scopes=scopes)
    assert unchanged() == before


def test_a_forbidding_tenant_refuses_creation(world):
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="forbidden", max_days=365)
    before = unchanged()
    with pytest.raises(ValidationError) as refused:
        make(world)
    assert refused.value.code == "forbidden"
    assert unchanged() == before


def test_only_a_tenant_member_sets_its_policy(world):
    with pytest.raises(ValidationError):
        token_policy_set(actor=world.member_b, tenant=world.acme, personal_tokens="forbidden", max_days=1)
    assert not TokenPolicy.objects.exists()


# --- The page


def test_the_page_offers_only_what_the_role_allows_and_greys_the_rest(world):
    client = Client()
    client.force_login(world.guest_a)
    html = client.get("/account/tokens/").content.decode()
    assert 'name="scope" value="photos.read"' in html
    assert 'name="scope" value="photos.delete"' not in html
    assert "your role Guest in Acme does not allow it" in html


def test_the_page_creates_shows_once_lists_and_revokes(world):
    client = Client()
    client.force_login(world.member_a)
    page = client.post(
        "/account/tokens/", {"tenant": "acme", "name": "ci", "scope": ["photos.read"], "days": "7"}
    ).content.decode()
    value = re.search(r'id="new-token">(gpat_[^<]+)<', page).group(1)
    assert value not in client.get("/account/tokens/").content.decode()  # shown once
    personal = PersonalAccessToken.objects.get()
    assert client.post(f"/account/tokens/{personal.pk}/revoke/").status_code == 302
    assert bearer(value).get("/api/t/acme/photos/").status_code == 401


def test_the_page_refuses_another_users_token_and_a_foreign_tenant(world):
    personal, _value = make(world)
    intruder = Client()
    intruder.force_login(world.member2_a)
    assert intruder.post(f"/account/tokens/{personal.pk}/revoke/").status_code == 404
    before = unchanged()
    refused = intruder.post(
        "/account/tokens/", {"tenant": "globex", "name": "x", "scope": ["photos.read"], "days": "7"}
    )
    assert refused.status_code == 400
    assert unchanged() == before


def test_introspection_says_personal(world):
    import base64

    from scopes.machines.services import service_account_create

    _personal, value = make(world)
    # A resource server of acme may introspect every token of its tenant.
    account, secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="API",
        role=world.role(RoleName.GUEST),
        scopes=["photos.read"],
    )
    account.application.is_resource_server = True
    account.application.save()
    auth = "Basic " + base64.b64encode(f"{account.application.client_id}:{secret}".encode()).decode()
    answer = Client().post("/o/introspect/", {"token": value}, HTTP_AUTHORIZATION=auth).json()
    assert answer["active"] is True
    assert answer["token_kind"] == "personal"
    assert answer["username"] == "member_a"
    assert answer["client_id"] == "personal-access-tokens"


def test_the_page_shows_the_tenants_policy(world):
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=30)
    client = Client()
    client.force_login(world.member_a)
    assert 'max="30"' in client.get("/account/tokens/").content.decode()
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="forbidden", max_days=30)
    html = client.get("/account/tokens/").content.decode()
    assert "Acme does not allow personal access tokens." in html
    assert "Create token" not in html


# --- Lowering the tenant's maximum lifetime shortens the tokens that exist (issue 24, item 5)


def _aged(personal: PersonalAccessToken, days: int) -> None:
    """The token was issued `days` ago (its own expiry stays where it was)."""
    from datetime import timedelta

    AccessToken.objects.filter(pk=personal.access_token_id).update(
        created=personal.access_token.created - timedelta(days=days)
    )


def _lower_maximum(world, how: str, max_days: int) -> None:
    if how == "service":
        token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=max_days)
    elif how == "update":
        TokenPolicy.objects.filter(tenant=world.acme).update(max_days=max_days)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE scopes_tokenpolicy SET max_days = %s WHERE tenant_id = %s", [max_days, world.acme.pk]
            )


def _introspect(world, value: str) -> dict:
    import base64

    from scopes.machines.services import service_account_create

    account, secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="RS",
        role=world.role(RoleName.GUEST),
        scopes=["photos.read"],
    )
    account.application.is_resource_server = True
    account.application.save()
    auth = "Basic " + base64.b64encode(f"{account.application.client_id}:{secret}".encode()).decode()
    return Client().post("/o/introspect/", {"token": value}, HTTP_AUTHORIZATION=auth).json()


@pytest.mark.parametrize("how", ["service", "update", "sql"])
def test_a_lowered_maximum_ends_an_older_token_at_its_next_request(world, how):
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=365)
    personal, value = make(world, days=300)
    _aged(personal, 10)
    api = bearer(value)
    assert api.get("/api/t/acme/photos/").status_code == 200  # warm: the cached context holds its expiry
    _lower_maximum(world, how, 7)
    refused = api.get("/api/t/acme/photos/")
    assert refused.status_code == 401
    assert "the token has expired" in refused.json()["detail"]
    assert _introspect(world, value) == {"active": False}
    _lower_maximum(world, how, 365)  # raised again: the token's own expiry is the limit once more
    assert api.get("/api/t/acme/photos/").status_code == 200


def test_introspection_and_the_page_report_the_shortened_expiry(world):
    import calendar
    from datetime import timedelta

    personal, value = make(world, days=300)
    _aged(personal, 10)
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=30)
    personal.access_token.refresh_from_db()
    shortened = personal.access_token.created + timedelta(days=30)
    assert shortened < personal.access_token.expires
    answer = _introspect(world, value)
    assert answer["active"] is True
    assert answer["exp"] == calendar.timegm(shortened.utctimetuple())
    client = Client()
    client.force_login(world.member_a)
    html = client.get("/account/tokens/").content.decode()
    from django.utils import dateformat, formats, timezone

    assert dateformat.format(timezone.localtime(shortened), "j M Y, H:i") in html
    assert dateformat.format(timezone.localtime(personal.access_token.expires), "j M Y, H:i") not in html
    from accounts.models import User

    operator = User.objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    listed = client.get("/admin/scopes/personalaccesstoken/").content.decode()
    # The admin writes dates in the site's one style (project/formats): "27 Dec 2026, 00:52".
    shown = formats.date_format(timezone.localtime(shortened), "DATETIME_FORMAT")
    assert shown in listed
    assert (
        formats.date_format(timezone.localtime(personal.access_token.expires), "DATETIME_FORMAT")
        not in listed
    )


def test_a_younger_token_keeps_its_own_expiry(world):
    """min(own, created + maximum): a token within the new maximum is not lengthened or shortened."""
    import calendar

    personal, value = make(world, days=5)
    token_policy_set(actor=world.owner_a, tenant=world.acme, personal_tokens="allowed", max_days=7)
    assert bearer(value).get("/api/t/acme/photos/").status_code == 200
    personal.access_token.refresh_from_db()
    assert _introspect(world, value)["exp"] == calendar.timegm(personal.access_token.expires.utctimetuple())


def test_a_missing_scope_tells_a_personal_tokens_holder_to_make_another(world):
    """A personal token is not authorized by the consent flow: its challenge does not send its
    holder to the authorization server (docs/agents.md), it says a new token is the way."""
    _row, value = make(world)
    refused = bearer(value).delete("/api/t/acme/photos/1/")
    assert refused.status_code == 403
    assert parse_challenge(refused["WWW-Authenticate"])[1]["error_description"] == (
        "This call needs the scope photos.delete. A personal access token cannot gain scopes: "
        "create one that has it."
    )
