"""What the token endpoint spends per grant: the registry's epoch read once, the consent only locked.

The token endpoint's hot paths (client credentials, refresh, the code exchange) judge the whole
standing; these tests hold the parts that must not creep back: the registry epoch read by the
grant's own query (`holding_registry`, `epoch_read`), not by a statement of its own, the service
account found and judged in the same statement, and no
write to the consent row on the request path (its "last used" goes through the bookkeeping thread,
accounts.background, which writes many in one statement).
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_delete
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.signals import app_authorized

from accounts import background, ratelimit
from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership, Role
from scopes.access import cache as context_cache
from scopes.access.selectors import registry
from scopes.access.tenancy import token_checksum
from scopes.consent.services import tokens_revoke
from scopes.constants import ScopeName as S
from scopes.machines.models import PersonalAccessToken
from scopes.machines.services import personal_token_create, service_account_create
from scopes.models import AccessToken, ApplicationScope, Consent, Grant, RefreshToken, RoleGrant, Scope
from tests.factories import ConsentFactory, RoleFactory
from tests.oauth import GRANT_PROBE, Flow, assert_standing_read_locks_the_consent, introspect, refresh
from tests.races import race

pytestmark = pytest.mark.django_db

needs_pg = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent writers")

OFFLINE = "photos.read offline_access"


@pytest.fixture
def importer(world):
    return service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Importer",
        role=world.role(RoleName.MEMBER),
        scopes=["photos.write", "albums.read"],
    )


def client_credentials(account, secret: str):
    basic = base64.b64encode(f"{account.application.client_id}:{secret}".encode()).decode()
    return Client().post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "photos.write"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )


def _statements(captured: CaptureQueriesContext, pattern: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if re.search(pattern, q["sql"], re.IGNORECASE)]


# A statement of its own for the registry epoch; the grant's query reads it too (scopes.access.rows).
EPOCH_ALONE = r"^\s*SELECT (scopes_registry_version\(\)|value FROM scopes_registry_epoch)"
CONSENT_WRITE = r'^\s*(UPDATE|INSERT INTO|DELETE FROM)\s+"?scopes_consent"?\s'
SERVICE_ACCOUNT = r"scopes_serviceaccount"


def test_a_client_credentials_grant_reads_the_epoch_with_the_grant_and_finds_its_account_with_its_standing(
    importer, settings
):
    """Its grant held here (scopes.access.cache.locked_source_grant): ONE statement finds the account
    and reads its grant's versions (the grant probe, which locks the consent too); after a change to
    any of the grant's rows, the grant's query follows it; with the cache off, the query alone."""
    account, secret = importer
    client_credentials(account, secret)  # the process's registry copy is built, the grant kept
    with CaptureQueriesContext(connection) as captured:
        answer = client_credentials(account, secret)
    assert answer.status_code == 200, answer.content
    assert _statements(captured, EPOCH_ALONE) == []
    (probe,) = _statements(captured, SERVICE_ACCOUNT)
    assert GRANT_PROBE.match(probe) and "scopes_rolegrant" not in probe
    assert _statements(captured, CONSENT_WRITE) == []

    Membership.objects.filter(user=account.user).update(
        role=Role.objects.get(tenant=None, name=RoleName.ADMIN)
    )
    with CaptureQueriesContext(connection) as captured:
        answer = client_credentials(account, secret)
    assert answer.status_code == 200, answer.content
    assert _statements(captured, EPOCH_ALONE) == []
    probe, query = _statements(captured, SERVICE_ACCOUNT)
    assert GRANT_PROBE.match(probe) and "scopes_rolegrant" in query

    settings.AUTHORIZATION_CACHE_ENTRIES = 0
    with CaptureQueriesContext(connection) as captured:
        answer = client_credentials(account, secret)
    assert answer.status_code == 200, answer.content
    account_reads = _statements(captured, SERVICE_ACCOUNT)
    assert len(account_reads) == 1 and "scopes_rolegrant" in account_reads[0]  # the standing's one query


def _upload(world) -> Scope:
    """One scope the account's `photos.write` stands for: grants, consents and app scopes hold them
    normalised (photos.write names nothing of its own)."""
    return Scope.objects.get(name=S.PHOTOS_UPLOAD)


# Every row a service account's grant is judged on, changed behind the product's back (raw SQL, or
# `QuerySet.update()`: no signal, no service): writer -> function(world, account).
HELD_GRANT_CHANGES = {
    "user deactivated": {
        "sql": lambda w, a: _sql("UPDATE accounts_user SET is_active = %s WHERE id = %s", False, a.user_id),
        "update": lambda w, a: type(a.user).objects.filter(pk=a.user_id).update(is_active=False),
    },
    "membership removed": {
        "sql": lambda w, a: _sql("DELETE FROM accounts_membership WHERE user_id = %s", a.user_id),
        "update": lambda w, a: Membership.objects.filter(user_id=a.user_id).update(tenant=w.globex),
    },
    "tenant deactivated": {
        "sql": lambda w, a: _sql("UPDATE accounts_tenant SET is_active = %s WHERE id = %s", False, w.acme.pk),
        "update": lambda w, a: type(w.acme).objects.filter(pk=w.acme.pk).update(is_active=False),
    },
    "grant removed from the role": {
        "sql": lambda w, a: _sql(
            "DELETE FROM scopes_rolegrant WHERE role_id = %s AND scope_id = %s",
            w.role(RoleName.MEMBER).pk,
            _upload(w).pk,
        ),
        "update": lambda w, a: RoleGrant.objects.filter(
            role=w.role(RoleName.MEMBER), scope=_upload(w)
        ).update(role=RoleFactory(name="Badge only", tenant=w.acme)),
    },
    "consent narrowed": {
        "sql": lambda w, a: _sql(
            "DELETE FROM scopes_consent_scopes WHERE consent_id = %s AND scope_id = %s",
            Consent.objects.get(user_id=a.user_id).pk,
            _upload(w).pk,
        ),
        "update": lambda w, a: Consent.scopes.through.objects.filter(
            consent__user_id=a.user_id, scope=_upload(w)
        ).update(scope=Scope.objects.get(name=S.PROFILE_READ)),
    },
    "an implication removed (the registry's epoch)": {
        "sql": lambda w, a: _sql(
            "DELETE FROM scopes_scope_implies WHERE from_scope_id = %s AND to_scope_id = %s",
            Scope.objects.get(name=S.PHOTOS_WRITE).pk,
            _upload(w).pk,
        ),
        "update": lambda w, a: Scope.implies.through.objects.filter(
            from_scope__name=S.PHOTOS_WRITE, to_scope=_upload(w)
        ).update(to_scope=Scope.objects.get(name=S.PROFILE_READ)),
    },
    "app scope removed": {
        "sql": lambda w, a: _sql(
            "DELETE FROM scopes_applicationscope WHERE application_id = %s AND scope_id = %s",
            a.application_id,
            _upload(w).pk,
        ),
        "update": lambda w, a: ApplicationScope.objects.filter(
            application_id=a.application_id, scope=_upload(w)
        ).update(scope=Scope.objects.get(name=S.PROFILE_READ)),
    },
}


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _answer(response) -> tuple[int, str | None, str | None]:
    body = response.json()
    return response.status_code, body.get("scope"), body.get("error")


@pytest.mark.parametrize("writer", ["sql", "update"])
@pytest.mark.parametrize("change", list(HELD_GRANT_CHANGES))
def test_a_change_reaches_a_client_credentials_grant_held_here(world, importer, change, writer):
    """The grant's rows this process keeps for its service account are used only under the versions
    the grant probe shows: after any change to them, the next token request answers exactly as a
    process holding nothing does, and not as before."""
    account, secret = importer
    before = _answer(client_credentials(account, secret))
    assert before[0] == 200 and "photos.upload" in before[1].split(), before  # photos.write, normalised
    assert _answer(client_credentials(account, secret)) == before  # from the grant held here
    HELD_GRANT_CHANGES[change][writer](world, account)
    held = _answer(client_credentials(account, secret))
    context_cache.clear()
    assert held == _answer(client_credentials(account, secret)) and held != before, (held, before)


def test_a_consent_that_came_between_the_grant_probe_and_the_read_is_not_served_once_it_is_gone(
    world, importer, monkeypatch
):
    """The grant probe found no consent (so it locked none); one committed before the grant's query
    is in the rows read. Kept under the probe's versions, those rows would be served, with a lock
    claimed that nobody took, once that consent is revoked and the probe shows NULL again: the rows
    are kept under the versions their own statement read."""
    account, secret = importer
    consent = Consent.objects.get(user=account.user)
    scopes = list(consent.scopes.all())
    _sql("DELETE FROM scopes_consent_scopes WHERE consent_id = %s", consent.pk)
    _sql("DELETE FROM scopes_consent WHERE id = %s", consent.pk)
    context_cache.clear()
    read = context_cache.source_grant_rows

    def consented_meanwhile(*args, **kwargs):  # a writer commits between the probe and the read
        ConsentFactory(user=account.user, tenant=world.acme, application=account.application).scopes.set(
            scopes
        )
        return read(*args, **kwargs)

    monkeypatch.setattr(context_cache, "source_grant_rows", consented_meanwhile)
    assert client_credentials(account, secret).status_code == 200  # consented when the rows were read
    monkeypatch.undo()
    _sql(
        "DELETE FROM scopes_consent_scopes WHERE consent_id IN (SELECT id FROM scopes_consent WHERE user_id = %s)",
        account.user_id,
    )
    _sql("DELETE FROM scopes_consent WHERE user_id = %s", account.user_id)
    held = _answer(client_credentials(account, secret))
    context_cache.clear()
    assert held == _answer(client_credentials(account, secret)) and held[0] != 200, held


def test_a_service_accounts_grant_kept_by_one_path_serves_the_other(world, importer):
    """The API's first use and the client-credentials grant keep a service account's grant in the
    same `grants`, under the same versions: whichever reads it first, the other reads no grant query."""
    account, secret = importer
    context_cache.clear()
    registry()
    first = client_credentials(account, secret).json()["access_token"]  # the probe and the query
    with CaptureQueriesContext(connection) as captured:
        assert _bearer(first).get("/api/t/acme/photos/").status_code == 200
    assert _statements(captured, "scopes_rolegrant") == []  # the token's first use: the grant held

    context_cache.clear()
    second = client_credentials(account, secret).json()["access_token"]
    context_cache.clear()
    assert _bearer(second).get("/api/t/acme/photos/").status_code == 200  # the API reads and keeps it
    with CaptureQueriesContext(connection) as captured:
        assert client_credentials(account, secret).status_code == 200
    (probe,) = _statements(captured, SERVICE_ACCOUNT)
    assert GRANT_PROBE.match(probe) and _statements(captured, "scopes_rolegrant") == []


def test_a_held_grant_gives_each_request_a_user_and_tenant_of_its_own(importer):
    """Kept rows are shared by every request of the grant; the request, its token and DOT get copies
    (`own_copy`), so nothing one request sets on them reaches the next."""
    account, _secret = importer
    source = f"SELECT user_id, tenant_id, application_id FROM scopes_serviceaccount WHERE application_id = {account.application_id}"
    with transaction.atomic():
        context_cache.locked_source_grant(source, [])
    with transaction.atomic():
        first = context_cache.locked_source_grant(source, [])
    first.user.first_name, first.tenant.name = "set by one request", "set by one request"
    with transaction.atomic():
        second = context_cache.locked_source_grant(source, [])
    assert second.user is not first.user and second.tenant is not first.tenant
    assert second.user.first_name != "set by one request" and second.tenant.name != "set by one request"
    assert second.user.pk == account.user_id and second.tenant.pk == account.tenant_id


def _bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_a_refresh_reads_the_epoch_with_the_grant_and_writes_no_consent(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    with CaptureQueriesContext(connection) as captured:
        answer = refresh(gallery.client_id, tokens["refresh_token"])
    assert answer.status_code == 200, answer.content
    assert _statements(captured, EPOCH_ALONE) == []
    assert _statements(captured, CONSENT_WRITE) == []


def test_a_consents_last_use_is_written_by_the_bookkeeping_flush_in_one_statement(
    world, gallery, browser_of, importer
):
    account, secret = importer
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    assert flow.exchange(flow.authorize()).status_code == 200
    assert client_credentials(account, secret).status_code == 200
    member_consent = Consent.objects.get(user=world.member_a, application=gallery)
    account_consent = Consent.objects.get(user=account.user, application=account.application)
    assert member_consent.last_used_at is None and account_consent.last_used_at is None  # noted only

    with CaptureQueriesContext(connection) as captured:
        background.flush()
    assert len(_statements(captured, CONSENT_WRITE)) == 1
    member_consent.refresh_from_db()
    account_consent.refresh_from_db()
    assert member_consent.last_used_at is not None
    assert account_consent.last_used_at is not None  # a service account's consent too


def test_a_grant_refused_after_validation_notes_no_use(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    background.flush()
    Consent.objects.filter(user=world.member_a, application=gallery).delete()
    assert refresh(gallery.client_id, tokens["refresh_token"]).status_code == 400
    assert background.flush() == 0  # nothing noted: no use, and no row for a consent that is gone


@pytest.mark.usefixtures("resource_server")
def test_introspection_names_the_client_from_the_standings_own_query(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    access = flow.exchange(flow.authorize()).json()["access_token"]
    introspect(access)
    with CaptureQueriesContext(connection) as captured:
        answer = introspect(access)
    assert answer["active"] and answer["client_id"] == gallery.client_id and answer["token_kind"] == "consent"
    assert _statements(captured, EPOCH_ALONE) == []
    # The introspecting client's own row, and no second read of the token's app.
    assert len(_statements(captured, r'FROM "scopes_application"')) == 1


def test_a_client_credentials_grant_reads_its_limits_in_one_cache_round_trip(importer, monkeypatch):
    """The failure limits and the tokens-issued limit are read together, before the secret is
    checked; the issued token is charged after the answer (scopes.oauth.client_limits)."""
    account, secret = importer
    cache = caches[ratelimit.CACHE_ALIAS]
    reads: list[list[str]] = []
    original = cache.get_many
    monkeypatch.setattr(
        cache, "get_many", lambda keys, *a, **k: reads.append(list(keys)) or original(keys, *a, **k)
    )
    assert client_credentials(account, secret).status_code == 200
    assert len(reads) == 1
    assert {key.split(":")[1] for key in reads[0]} == {"token-client", "token-ip", "token-issue-client"}


def test_revocation_revokes_in_the_requests_transaction_without_a_savepoint(world, gallery, browser_of):
    """The revocation endpoint's write is the request's: no savepoint around it (two statements a
    request for a partial rollback nobody uses); the token is gone, its refresh token revoked, and
    the audit row written, all in that transaction."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    with CaptureQueriesContext(connection) as captured:
        answer = Client().post(
            "/o/revoke_token/", {"token": tokens["access_token"], "client_id": gallery.client_id}
        )
    assert answer.status_code == 200, answer.content
    assert _statements(captured, r"^\s*(SAVEPOINT|RELEASE SAVEPOINT)\b") == []
    # The token is found through its checksum's unique index alone: a filter on the client too lets
    # the planner pick the client's index when statistics lag, reading every token of the client.
    (read,) = _statements(captured, r'^\s*SELECT .* FROM "scopes_accesstoken"')
    where = read.split(" WHERE ", 1)[1]
    assert "token_checksum" in where and "application_id" not in where
    assert AccessToken.objects.filter(token_checksum=token_checksum(tokens["access_token"])).count() == 0
    assert (
        RefreshToken.objects.get(token_checksum=token_checksum(tokens["refresh_token"])).revoked is not None
    )
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED, tenant=world.acme).count() == 1


def _revoked_pair(world, gallery, browser_of, user) -> tuple[dict, Grant, CaptureQueriesContext]:
    """A code exchanged for a pair, then its access token revoked at the endpoint."""
    flow = Flow(browser_of(user), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    code = Grant.objects.get(access_token__token_checksum=token_checksum(tokens["access_token"]))
    with CaptureQueriesContext(connection) as captured:
        answer = Client().post(
            "/o/revoke_token/", {"token": tokens["access_token"], "client_id": gallery.client_id}
        )
    assert answer.status_code == 200, answer.content
    return tokens, code, captured


def _after(tokens: dict, code: Grant) -> tuple:
    """What a revocation leaves: no access token; the refresh token revoked and unlinked; the code unlinked."""
    pair = RefreshToken.objects.get(token_checksum=token_checksum(tokens["refresh_token"]))
    return (
        AccessToken.objects.filter(token_checksum=token_checksum(tokens["access_token"])).exists(),
        pair.revoked is not None,
        pair.access_token_id,
        Grant.objects.get(pk=code.pk).access_token_id,
    )


def test_revoking_an_access_token_writes_what_the_collector_did_in_one_statement(world, gallery, browser_of):
    """On PostgreSQL the token's delete, its refresh token's revocation and every relation's
    `on_delete` are one statement (scopes.consent.services._delete_access_token), and the audit
    row with its outbox another: two writes where the collector took five, and the same rows
    after. A delete receiver (which only the collector calls) sends it through the collector."""
    tokens, code, captured = _revoked_pair(world, gallery, browser_of, world.member_a)
    writes = _statements(captured, r"^\s*(WITH|INSERT|UPDATE|DELETE)\b")
    if connection.vendor == "postgresql":
        assert len(writes) == 2, writes
        assert all(write.lstrip().startswith("WITH") for write in writes), writes
        # Both planned once per connection (accounts.prepared): planning them cost more than running them.
        for start in ("WITH event AS (INSERT INTO", 'WITH r0 AS (UPDATE "scopes_refreshtoken"'):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_prepared_statements WHERE starts_with(statement, %s)", [start]
                )
                assert cursor.fetchone()[0] >= 1, start
    assert _after(tokens, code) == (False, True, None, None)

    seen: list[int] = []

    def receiver(sender, instance, **kwargs) -> None:
        seen.append(instance.pk)

    pre_delete.connect(receiver, sender=AccessToken)
    try:
        tokens, code, captured = _revoked_pair(world, gallery, browser_of, world.admin_a)
    finally:
        pre_delete.disconnect(receiver, sender=AccessToken)
    assert len(seen) == 1
    assert _after(tokens, code) == (False, True, None, None)
    assert len(_statements(captured, r"^\s*(WITH|INSERT|UPDATE|DELETE)\b")) > 2  # the collector's


def test_revoking_an_access_token_keeps_its_refresh_tokens_revocation_time(world, gallery, browser_of):
    """A refresh token revoked before its access token keeps when it was revoked (the statement's
    `coalesce`); it is unlinked like any other."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    pair = RefreshToken.objects.get(token_checksum=token_checksum(tokens["refresh_token"]))
    earlier = timezone.now() - timedelta(days=3)
    RefreshToken.objects.filter(pk=pair.pk).update(revoked=earlier)
    access = AccessToken.objects.get(token_checksum=token_checksum(tokens["access_token"]))
    assert tokens_revoke(actor=None, access_tokens=[access]) == 1
    pair.refresh_from_db()
    assert (pair.revoked, pair.access_token_id) == (earlier, None)
    assert not AccessToken.objects.filter(pk=access.pk).exists()


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_revoking_an_access_token_locks_its_refresh_token_first(world, gallery, browser_of):
    """Every path that writes a pair locks the refresh token, then the access token (DOT's
    rotation, `consent_revoke`, a family's revocation). The revocation's statement must too: a
    refresh holding the pair's refresh token that then deletes the access token must find the
    revocation waiting for the refresh token, holding nothing (a deadlock aborted one otherwise)."""
    _tokens, pair, access = _pair(world, gallery, browser_of, world.member_a)
    errors = race(
        # As DOT's rotation: lock the refresh token, then revoke it (which deletes the access token).
        lambda: RefreshToken.objects.select_for_update().get(pk=pair.pk),
        lambda locked: locked.revoke(),
        lambda: tokens_revoke(actor=None, access_tokens=[AccessToken.objects.get(pk=access.pk)]),
    )
    assert not errors, errors
    assert not AccessToken.objects.filter(pk=access.pk).exists()
    assert RefreshToken.objects.get(pk=pair.pk).revoked is not None


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_refresh_token_revoked_twice_at_once_is_revoked_once(world, gallery, browser_of):
    """Two `revoke()`s of one refresh token: the second waits for the first's lock, then finds the
    token revoked and changes nothing (DOT's rule), keeping the first one's time."""
    _tokens, pair, access = _pair(world, gallery, browser_of, world.member_a)
    first: list = []

    def revoke_first() -> None:
        RefreshToken.objects.get(pk=pair.pk).revoke()
        first.append(RefreshToken.objects.get(pk=pair.pk).revoked)  # inside its transaction

    errors = race(revoke_first, lambda _held: None, lambda: RefreshToken.objects.get(pk=pair.pk).revoke())
    assert not errors, errors
    pair.refresh_from_db()
    assert first[0] is not None and pair.revoked == first[0] and pair.access_token_id is None
    assert not AccessToken.objects.filter(pk=access.pk).exists()


def _pair(world, gallery, browser_of, user) -> tuple[dict, RefreshToken, AccessToken]:
    flow = Flow(browser_of(user), gallery.client_id, OFFLINE)
    tokens = flow.exchange(flow.authorize()).json()
    return (
        tokens,
        RefreshToken.objects.get(token_checksum=token_checksum(tokens["refresh_token"])),
        AccessToken.objects.get(token_checksum=token_checksum(tokens["access_token"])),
    )


def test_a_refresh_rotates_its_token_in_one_statement(world, gallery, browser_of):
    """DOT's rotation revokes the refresh token (`RefreshToken.revoke()`): locked, marked revoked and
    unlinked, its access token deleted with every relation's `on_delete`. On PostgreSQL that is one
    statement (scopes.models.RefreshToken.revoke, accounts.deletion) where DOT ran a savepoint and nine."""
    tokens, pair, access = _pair(world, gallery, browser_of, world.member_a)
    with CaptureQueriesContext(connection) as captured:
        answer = refresh(gallery.client_id, tokens["refresh_token"])
    assert answer.status_code == 200, answer.content
    pair.refresh_from_db()
    assert pair.revoked is not None and pair.access_token_id is None and pair.updated >= pair.revoked
    assert not AccessToken.objects.filter(pk=access.pk).exists()
    new = AccessToken.objects.get(token_checksum=token_checksum(answer.json()["access_token"]))
    assert new.source_refresh_token_id == pair.pk
    if connection.vendor == "postgresql":
        assert len(_statements(captured, r"^\s*WITH live AS")) == 1
        with connection.cursor() as cursor:  # planned once per connection, one statement for every id
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE starts_with(statement, 'WITH live AS')"
            )
            assert cursor.fetchone()[0] == 1
        assert _statements(captured, r'^\s*DELETE FROM "scopes_accesstoken"') == []  # no collector
        assert len(captured) <= 15, [q["sql"][:80] for q in captured.captured_queries]


def test_revoking_a_revoked_refresh_token_changes_nothing(world, gallery, browser_of):
    """DOT's rule: a refresh token already revoked is left as it is, its access token too."""
    _tokens, pair, access = _pair(world, gallery, browser_of, world.member_a)
    earlier = timezone.now() - timedelta(days=3)
    RefreshToken.objects.filter(pk=pair.pk).update(revoked=earlier)
    RefreshToken.objects.get(pk=pair.pk).revoke()
    pair.refresh_from_db()
    assert (pair.revoked, pair.access_token_id) == (earlier, access.pk)
    assert AccessToken.objects.filter(pk=access.pk).exists()


@pytest.mark.parametrize(("signal", "sender"), [(post_save, RefreshToken), (pre_delete, AccessToken)])
def test_a_receiver_of_the_rows_signals_gets_dots_revocation(world, gallery, browser_of, signal, sender):
    """The statement sends no signals: while a receiver listens, DOT's own `revoke()` runs."""
    _tokens, pair, access = _pair(world, gallery, browser_of, world.member_a)
    seen: list[int] = []

    def receiver(sender, instance, **kwargs) -> None:
        seen.append(instance.pk)

    signal.connect(receiver, sender=sender)
    try:
        RefreshToken.objects.get(pk=pair.pk).revoke()
    finally:
        signal.disconnect(receiver, sender=sender)
    assert seen == [pair.pk if sender is RefreshToken else access.pk]
    pair.refresh_from_db()
    assert pair.revoked is not None and pair.access_token_id is None
    assert not AccessToken.objects.filter(pk=access.pk).exists()


def test_revoking_a_personal_token_deletes_it_with_its_access_token(world):
    """The one `CASCADE` to an access token: its personal token row goes in the same statement."""
    personal, raw = personal_token_create(
        actor=world.member_a, tenant=world.acme, name="laptop", scopes=["photos.read"], days=30
    )
    tokens_revoke(actor=world.member_a, access_tokens=[personal.access_token])
    assert not PersonalAccessToken.objects.filter(pk=personal.pk).exists()
    assert not AccessToken.objects.filter(token_checksum=token_checksum(raw)).exists()


def test_each_grant_locks_its_consent_in_its_standing_read(world, gallery, browser_of, importer):
    """Client credentials, the code exchange and the refresh each read the grant's standing once, and
    on PostgreSQL that statement locks the consent until the token is written (revocations take the
    same lock first): no statement of its own for the lock. Elsewhere (SQLite) the lock is a small
    statement at the write, as before."""
    account, secret = importer
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    code = flow.authorize()
    client_credentials(account, secret)  # the process's registry copy is built
    answers, captures = [], []
    for call in (
        lambda: client_credentials(account, secret),
        lambda: flow.exchange(code),
    ):
        with CaptureQueriesContext(connection) as captured:
            answers.append(call())
        captures.append(captured)
    with CaptureQueriesContext(connection) as captured:
        answers.append(refresh(gallery.client_id, answers[1].json()["refresh_token"]))
    captures.append(captured)
    assert [answer.status_code for answer in answers] == [200, 200, 200], [a.content for a in answers]
    for captured in captures:
        assert_standing_read_locks_the_consent(captured)


def test_a_grant_does_not_read_back_the_token_it_wrote_unless_app_authorized_has_a_receiver(importer):
    """DOT reads the issued token again only to send `app_authorized`; with no receiver (the
    product's case) that statement is skipped, and a receiver still gets the issued token."""
    account, secret = importer
    client_credentials(account, secret)
    with CaptureQueriesContext(connection) as captured:
        answer = client_credentials(account, secret)
    assert answer.status_code == 200
    assert _statements(captured, r'^\s*SELECT .* FROM "scopes_accesstoken"') == []

    received = []

    def receiver(sender, request, token, **kwargs):
        received.append(token)

    app_authorized.connect(receiver)
    try:
        answer = client_credentials(account, secret)
    finally:
        app_authorized.disconnect(receiver)
    assert answer.status_code == 200
    assert [token.token_checksum for token in received] == [token_checksum(answer.json()["access_token"])]
