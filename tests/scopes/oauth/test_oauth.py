"""Attacks on the OAuth endpoints: PKCE, codes, refresh tokens, revocation, redirect URIs, clients.

Every attack is refused with the OAuth error a client expects, and changes nothing: no code, token,
consent or audit row appears or disappears (`unchanged`), except where the refusal itself is the
protection (refresh-token reuse revokes the family).
"""

from __future__ import annotations

import base64
import json
import threading
from contextlib import suppress
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent
from scopes.models import AccessToken, Application, ApplicationScope, Consent, Grant, RefreshToken, Scope
from scopes.oauth import validators
from scopes.oauth.validators import TenantOAuth2Validator
from tests.factories import ApplicationFactory
from tests.oauth import REDIRECT_URI, Flow, code_request, refresh
from tests.races import wait_until_blocked_by

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

OFFLINE = "photos.read offline_access"


def token_post(**data: str):
    return Client().post("/o/token/", data)


def code_of(flow: Flow, response) -> str:
    return flow.redirect_params(response)["code"]


def exchange(flow: Flow, code: str, **override: str):
    data = {**code_request(code, flow.client_id, flow.verifier), **override}
    return token_post(**{k: v for k, v in data.items() if v is not None})


def api_status(access_token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client.get("/api/t/acme/photos/").status_code


@pytest.fixture
def other_client(seeded) -> Application:
    """A second public client with the same redirect URI: the code thief's best case."""
    app = ApplicationFactory(name="Other", client_id="other-client")
    for name in ("photos.read", "offline_access"):
        ApplicationScope.objects.create(application=app, scope=Scope.objects.get(name=name))
    return app


@pytest.fixture
def approved(world, gallery, browser_of):
    """A flow whose consent was given: (flow, code); the code is unused."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    return flow, code_of(flow, flow.consent(flow.start()))


# --- PKCE


def test_an_authorization_request_without_pkce_is_refused(world, gallery, browser_of, unchanged):
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read")
    params = {k: v for k, v in flow.params.items() if not k.startswith("code_challenge")}
    with unchanged():
        answer = Flow.redirect_params(browser.get("/o/authorize/?" + urlencode(params)))
    assert answer["error"] == "invalid_request" and answer["state"] == flow.state


@pytest.mark.parametrize("method", ["plain", "S512", "s256", ""])
def test_a_pkce_method_other_than_s256_is_refused(world, gallery, browser_of, unchanged, method):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    flow.extra = {"code_challenge_method": method}
    with unchanged():
        answer = Flow.redirect_params(flow.start())
    assert answer["error"] == "invalid_request"


def test_a_plain_challenge_cannot_be_smuggled_through_the_consent_post(world, gallery, browser_of, unchanged):
    """The page is refused for `plain`; the POST has no way to choose a method of its own."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    flow.extra = {"code_challenge_method": "plain", "code_challenge": flow.verifier}
    with unchanged():
        assert flow.start().status_code == 302
        response = flow.client.post(
            "/o/authorize/",
            {"request_token": "", "tenant": "acme", "scope": "photos.read", "decision": "allow"},
        )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "verifier",
    [None, "", "wrong-verifier-" + "x" * 40, "short"],
    ids=["missing", "empty", "wrong", "too-short"],
)
def test_a_code_without_its_verifier_yields_nothing(approved, unchanged, verifier):
    flow, code = approved
    with unchanged():
        response = exchange(flow, code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}


def test_the_challenge_itself_is_not_a_verifier(approved, unchanged):
    flow, code = approved
    with unchanged():
        assert exchange(flow, code, code_verifier=flow.challenge).json()["error"] == "invalid_grant"


# --- authorization codes


def test_a_replayed_code_is_refused_and_revokes_every_token_issued_from_it(gallery, approved):
    """RFC 6749 4.1.2: the second use fails and SHOULD revoke what the first one issued. The code is
    kept after use (marked used, naming its access token and refresh family) so a replay can, also
    after the refresh token has rotated."""
    flow, code = approved
    first = exchange(flow, code).json()
    rotated = refresh(gallery.client_id, first["refresh_token"]).json()
    assert api_status(rotated["access_token"]) == 200
    replay = exchange(flow, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert api_status(first["access_token"]) == 401
    assert api_status(rotated["access_token"]) == 401
    assert refresh(gallery.client_id, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    audited = AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED)
    assert {e.before["via"] for e in audited} == {"authorization code replayed, client test-gallery"}


def test_a_replayed_code_without_offline_access_revokes_its_access_token(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    code = code_of(flow, flow.consent(flow.start()))
    token = exchange(flow, code).json()
    assert exchange(flow, code).json()["error"] == "invalid_grant"
    assert api_status(token["access_token"]) == 401


def test_a_used_code_replayed_by_another_client_changes_nothing(approved, other_client, unchanged):
    """Only the client the code was issued to can trigger the revocation: another client's attempt
    is a code it does not have, and changes nothing."""
    flow, code = approved
    token = exchange(flow, code).json()
    with unchanged():
        stolen = exchange(flow, code, client_id=other_client.client_id)
    assert stolen.json()["error"] == "invalid_grant"
    assert api_status(token["access_token"]) == 200


def test_two_concurrent_exchanges_of_one_code_leave_no_token(
    transactional_db, world, gallery, browser_of, monkeypatch
):
    """Both requests read the code as unused before either uses it up; the loser must not keep a token.

    oauthlib saves tokens before it marks the code used, so without care the losing request leaves a
    live (undelivered) access and refresh token behind; and a code used twice revokes the tokens
    the other use got (RFC 6749 4.1.2). A barrier holds both requests after they have read the
    code and before the grant's standing, which locks the consent: the second then waits there for
    the first to commit, and still goes on with the code it read as unused. PostgreSQL only: SQLite
    serialises writers per database.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    code = code_of(flow, flow.consent(flow.start()))
    barrier = threading.Barrier(2, timeout=5)
    standing = validators.grant_standing

    def wait_then_standing(*args, **kwargs):
        with suppress(threading.BrokenBarrierError):
            barrier.wait()
        return standing(*args, **kwargs)

    monkeypatch.setattr(validators, "grant_standing", wait_then_standing)
    statuses: list[int] = []

    def attempt() -> None:
        try:
            statuses.append(exchange(flow, code).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not barrier.broken, "the two exchanges did not both reach the standing read"
    assert sorted(statuses) == [200, 400]
    # The code was used twice: the loser leaves nothing, and revokes what the winner got too.
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert Grant.objects.get().used_at is not None


def test_a_code_of_another_client_is_refused_and_stays_usable_by_its_own(approved, other_client, unchanged):
    flow, code = approved
    with unchanged():
        stolen = exchange(flow, code, client_id=other_client.client_id)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert exchange(flow, code).status_code == 200


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8765/callback/",
        "http://127.0.0.1:8765/other",
        "http://127.0.0.1:8766/callback",
        "http://127.0.0.1:8765/callback?x=1",
        "",
    ],
    ids=str,
)
def test_a_code_with_another_redirect_uri_is_refused(approved, unchanged, redirect_uri):
    flow, code = approved
    with unchanged():
        response = exchange(flow, code, redirect_uri=redirect_uri)
    assert response.status_code == 400


def test_an_omitted_redirect_uri_means_the_registered_default_which_must_be_the_one_used(
    world, gallery, browser_of, unchanged
):
    """oauthlib fills an omitted redirect_uri with the client's default (its first registered URI),
    then DOT compares it with the code's exactly: omission works only when it names the same URI."""
    Application.objects.filter(pk=gallery.pk).update(
        redirect_uris=f"http://127.0.0.1:9999/first {REDIRECT_URI}"
    )
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    code = code_of(flow, flow.consent(flow.start()))
    with unchanged():
        response = exchange(flow, code, redirect_uri=None)
    assert response.status_code == 400
    assert exchange(flow, code).status_code == 200


def test_an_expired_code_is_refused(approved, unchanged):
    flow, code = approved
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    with unchanged():
        assert exchange(flow, code).json()["error"] == "invalid_grant"


def test_a_made_up_code_is_refused(approved, unchanged):
    flow, _code = approved
    with unchanged():
        assert exchange(flow, "made-up-code").json()["error"] == "invalid_grant"
        assert exchange(flow, "").status_code == 400


# --- refresh tokens


@pytest.fixture
def tokens(approved) -> dict:
    flow, code = approved
    return exchange(flow, code).json()


def test_refresh_token_reuse_revokes_the_whole_family(world, gallery, tokens):
    newer = refresh(gallery.client_id, tokens["refresh_token"]).json()
    newest = refresh(gallery.client_id, newer["refresh_token"]).json()
    assert api_status(newest["access_token"]) == 200

    reuse = refresh(gallery.client_id, tokens["refresh_token"])  # the stolen, already rotated one
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"

    # Every member of the family is dead: the latest refresh token and the live access token too.
    assert refresh(gallery.client_id, newest["refresh_token"]).json()["error"] == "invalid_grant"
    assert api_status(newest["access_token"]) == 401
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_a_refresh_token_of_another_client_is_refused_without_harming_the_owner(
    gallery, other_client, tokens, unchanged
):
    with unchanged():
        stolen = refresh(other_client.client_id, tokens["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert refresh(gallery.client_id, tokens["refresh_token"]).status_code == 200


def test_an_access_token_is_not_a_refresh_token(gallery, tokens, unchanged):
    with unchanged():
        assert refresh(gallery.client_id, tokens["access_token"]).json()["error"] == "invalid_grant"


def test_a_revoked_refresh_token_is_refused(gallery, tokens, unchanged):
    Client().post(
        "/o/revoke_token/",
        {
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": gallery.client_id,
        },
    )
    with unchanged():
        assert refresh(gallery.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_an_expired_refresh_token_is_refused(gallery, tokens, unchanged, settings):
    lifetime = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=lifetime + 1))
    with unchanged():
        assert refresh(gallery.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"


# --- access tokens on the API


def test_a_revoked_access_token_is_refused_on_the_api(gallery, tokens, unchanged):
    assert api_status(tokens["access_token"]) == 200
    Client().post("/o/revoke_token/", {"token": tokens["access_token"], "client_id": gallery.client_id})
    with unchanged():
        assert api_status(tokens["access_token"]) == 401


def test_an_expired_access_token_is_refused_on_the_api(tokens, unchanged):
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    with unchanged():
        assert api_status(tokens["access_token"]) == 401


def test_a_refresh_token_is_not_an_access_token(tokens, unchanged):
    with unchanged():
        assert api_status(tokens["refresh_token"]) == 401


# --- revocation


@pytest.mark.parametrize("hint", ["", "access_token", "refresh_token", "bogus"])
def test_a_token_of_another_client_cannot_be_revoked(other_client, tokens, unchanged, hint):
    for kind in ("access_token", "refresh_token"):
        with unchanged():
            response = Client().post(
                "/o/revoke_token/",
                {"token": tokens[kind], "token_type_hint": hint, "client_id": other_client.client_id},
            )
        assert response.status_code == 200  # RFC 7009: the answer does not say whether it exists
    assert api_status(tokens["access_token"]) == 200


def test_revocation_by_an_unknown_or_unauthenticated_client_changes_nothing(tokens, unchanged):
    with unchanged():
        for data in ({"client_id": "no-such-client"}, {}):
            response = Client().post("/o/revoke_token/", {"token": tokens["access_token"], **data})
            assert response.status_code in {400, 401}


# --- redirect URIs and clients at the authorization endpoint


@pytest.fixture
def web_app(seeded) -> Application:
    """A client registered with a non-loopback redirect URI, where every character must match."""
    app = ApplicationFactory(name="Web", client_id="web-app", redirect_uris="https://gallery.example/cb")
    ApplicationScope.objects.create(application=app, scope=Scope.objects.get(name="photos.read"))
    return app


def authorize(browser, client_id: str, redirect_uri: str | None, **extra: str):
    flow = Flow(browser, client_id, "photos.read")
    params = {**flow.params, "redirect_uri": redirect_uri, **extra}
    return browser.get("/o/authorize/?" + urlencode({k: v for k, v in params.items() if v is not None}))


def error_page(response) -> str:
    """A page on our side, never a redirect (RFC 6749 4.1.2.1)."""
    assert response.status_code == 400, response.status_code
    assert not response.has_header("Location")
    body = response.content.decode()
    assert "We could not complete this request" in body and "Nothing was sent to it." in body
    assert 'name="request_token"' not in body  # not a consent form
    return body


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://gallery.example/cb/",  # trailing slash
        "https://gallery.example/cb/extra",  # extra path
        "https://gallery.example/cbx",  # registered URI as a prefix
        "https://gallery.example/c",  # a prefix of the registered URI
        "https://gallery.example/cb?next=https://evil.example",  # query added
        "https://gallery.example/cb#frag",  # fragment
        "https://gallery.example:8443/cb",  # different port
        "https://gallery.example:443/cb",  # explicit default port is another string
        "http://gallery.example/cb",  # scheme
        "https://GALLERY.example/cb/..",  # case and dot segments
        "https://gallery.example.evil.example/cb",  # suffix host
        "https://evil.example@gallery.example/cb",  # userinfo
        "https://gallery.example/cb;evil=1",  # path parameters
        "https://gallery.example/%63b",  # percent-encoded path
        "https://evil.example/cb",
        "javascript:alert(1)",
        "",
    ],
)
def test_a_redirect_uri_that_is_not_exactly_registered_never_redirects(
    world, web_app, browser_of, unchanged, redirect_uri
):
    browser = browser_of(world.member_a)
    with unchanged():
        response = authorize(browser, web_app.client_id, redirect_uri)
    body = error_page(response)
    assert "evil.example" not in body


def test_the_registered_redirect_uri_itself_works(world, web_app, browser_of):
    response = authorize(browser_of(world.member_a), web_app.client_id, "https://gallery.example/cb")
    assert response.status_code == 200 and 'name="request_token"' in response.content.decode()


def test_a_loopback_redirect_uri_may_change_only_its_port(world, gallery, browser_of, unchanged):
    """RFC 8252 7.3 (and RFC 9700 2.1): native apps on 127.0.0.1 get an ephemeral port, so DOT
    accepts any port for a registered loopback IP literal; everything else must still match."""
    browser = browser_of(world.member_a)
    assert authorize(browser, gallery.client_id, "http://127.0.0.1:50123/callback").status_code == 200
    for uri in (
        "http://127.0.0.1:50123/callback/x",
        "http://localhost:8765/callback",
        "http://127.0.0.2:8765/callback",
        "https://127.0.0.1:8765/callback",
    ):
        with unchanged():
            error_page(authorize(browser, gallery.client_id, uri))


@pytest.mark.parametrize(
    "client_id", ["no-such-client", "", "test-gallery ", "TEST-GALLERY", "' OR 1=1 --", "x" * 300], ids=str
)
def test_an_unknown_client_id_shows_an_error_page_and_never_redirects(
    world, gallery, browser_of, unchanged, client_id
):
    browser = browser_of(world.member_a)
    with unchanged():
        body = error_page(authorize(browser, client_id, REDIRECT_URI))
    assert "not registered" in body


def test_a_missing_client_id_shows_an_error_page(world, gallery, browser_of, unchanged):
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read")
    params = {k: v for k, v in flow.params.items() if k != "client_id"}
    with unchanged():
        error_page(browser.get("/o/authorize/?" + urlencode(params)))


@pytest.mark.parametrize("response_type", ["token", "id_token", "code token", "none", ""])
def test_only_the_code_response_type_is_served(world, gallery, browser_of, unchanged, response_type):
    browser = browser_of(world.member_a)
    with unchanged():
        response = authorize(browser, gallery.client_id, REDIRECT_URI, response_type=response_type)
    assert response.status_code == 302
    assert "access_token" not in response["Location"] and "code=" not in response["Location"]
    assert "error=" in response["Location"]


# --- other grants at the token endpoint


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "password", "username": "member_a", "password": "pw"},
        {"grant_type": "client_credentials"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
        {"grant_type": "implicit"},
        {"grant_type": ""},
    ],
    ids=lambda d: d["grant_type"] or "empty",
)
def test_grants_other_than_code_and_refresh_are_refused(world, gallery, unchanged, data):
    with unchanged():
        response = token_post(client_id=gallery.client_id, **data)
    assert response.status_code in {400, 401, 404}  # DOT answers an unknown device code with 404
    assert "access_token" not in response.json()


def test_two_concurrent_refreshes_of_one_refresh_token_are_reuse(
    transactional_db, world, gallery, browser_of, monkeypatch
):
    """Single use under concurrency for rotation: both requests pass validation, then DOT's row lock
    on the refresh token orders them. The second found it rotated: that is reuse (RFC 9700 4.14.2),
    so it answers invalid_grant (it was a 500: DOT answered with the first pair, which hashed
    storage cannot give back) and the family is revoked, as for a later reuse.
    PostgreSQL only: SQLite serialises writers per database."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE)
    tokens = exchange(flow, code_of(flow, flow.consent(flow.start()))).json()
    barrier = threading.Barrier(2, timeout=5)
    validate = TenantOAuth2Validator.validate_refresh_token

    def validate_then_wait(self, *args, **kwargs):
        valid = validate(self, *args, **kwargs)
        with suppress(threading.BrokenBarrierError):
            barrier.wait()
        return valid

    monkeypatch.setattr(TenantOAuth2Validator, "validate_refresh_token", validate_then_wait)
    answers: list = []

    def attempt() -> None:
        try:
            response = refresh(gallery.client_id, tokens["refresh_token"])
            answers.append((response.status_code, response.content.decode()[:3000]))
        except Exception as error:  # a 500 raises out of the test client: record it, fail below
            answers.append((500, repr(error)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.undo()
    assert sorted(status for status, _body in answers) == [200, 400], answers
    answers = [(status, json.loads(body)) for status, body in answers]
    assert [body["error"] for status, body in answers if status == 400] == ["invalid_grant"]
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.TOKEN_REVOKED, before__via__startswith="refresh token reused concurrently"
    ).exists()


# --- Concurrency (PostgreSQL): a refresh or a code exchange paused after validation while
#        the token is revoked, the consent taken back or the membership removed.


def _paused(monkeypatch, method: str):
    """Patch the validator's `method` so the request waits after it until `go` is set."""
    reached, go = threading.Event(), threading.Event()
    original = getattr(TenantOAuth2Validator, method)

    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        go.backend = connection.connection.info.backend_pid  # type: ignore[attr-defined]
        reached.set()
        go.wait(timeout=30)
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


def _tokens(world, gallery, browser_of) -> tuple[Flow, dict]:
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    tokens = Client().post("/o/token/", code_request(code, gallery.client_id, flow.verifier)).json()
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


def _race_waiting(monkeypatch, method: str, first, second) -> list:
    """`first` paused after `method` while `second` runs: `second` must wait for a lock `first`'s
    session holds (pg_blocking_pids), then both finish. Answers: [first's, second's]."""
    reached, go = _paused(monkeypatch, method)
    firsts: list = []
    seconds: list = []
    thread = _in_thread(first, firsts)
    assert reached.wait(timeout=10)
    monkeypatch.undo()
    waiting = _in_thread(second, seconds)
    try:
        wait_until_blocked_by(go.backend, waiting, seconds)  # type: ignore[attr-defined]
        assert not seconds, "the second request finished while the first held its lock"
    finally:
        go.set()
        thread.join(timeout=30)
        waiting.join(timeout=30)
    return firsts + seconds


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
    issued = (
        answers[0][0] == 200 and api_status(__import__("json").loads(answers[0][1])["access_token"]) == 200
    )
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
def test_a_consent_revoked_while_a_held_grant_issues_a_client_credentials_token_leaves_none(
    world, monkeypatch
):
    """A service account's grant this process holds (scopes.access.cache.locked_source_grant) is read
    by the grant probe alone, which locks the consent as the grant's query does: a revocation waits
    for the token being issued, then revokes it with the consent."""
    from scopes.access import cache as context_cache
    from scopes.consent.services import consent_revoke
    from scopes.machines.services import service_account_create

    account, secret = service_account_create(
        actor=world.admin_a,
        tenant=world.acme,
        name="Importer",
        role=world.role(RoleName.MEMBER),
        scopes=["photos.write"],
    )
    basic = base64.b64encode(f"{account.application.client_id}:{secret}".encode()).decode()

    def issue():
        return Client().post(
            "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
        )

    def revoke():
        consent_revoke(actor=None, consent=Consent.objects.get(user=account.user))
        return SimpleNamespace(status_code=200, content=b"revoked")

    assert issue().status_code == 200  # the grant's rows are kept in this process
    assert AccessToken.objects.filter(user=account.user).count() == 1
    queries: list = []
    original = context_cache.source_grant_rows
    context_cache.source_grant_rows = lambda *args, **kwargs: (
        queries.append(args) or original(*args, **kwargs)
    )
    try:
        answers = _race_waiting(monkeypatch, "validate_scopes", issue, revoke)
    finally:
        context_cache.source_grant_rows = original
    assert queries == [], "the held grant was read again"
    assert [status for status, _body in answers] == [200, 200], answers
    assert not Consent.objects.filter(user=account.user).exists()
    assert not AccessToken.objects.filter(user=account.user).exists(), "a token outlived its consent"


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
        assert api_status(__import__("json").loads(answers[0][1])["access_token"]) in (403, 404, 401)


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_consent_revoked_while_the_code_is_exchanged_leaves_no_family_to_revive(
    world, gallery, browser_of, monkeypatch
):
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    data = code_request(code, gallery.client_id, flow.verifier)
    """Revoking a consent kills what it issued; a refresh token minted in the race survives it and
    comes back to life when the user consents again later. The exchange's validation locked the
    consent (its standing read), so the revocation waits for the exchange and then revokes what it
    issued."""
    answers = _race_waiting(
        monkeypatch,
        "validate_code",
        lambda: Client().post("/o/token/", data),
        lambda: flow.client.post(reverse("account-app-revoke", args=[consent.pk])),
    )
    assert len(answers) == 2 and all(status < 500 for status, _body in answers), answers
    assert not Consent.objects.filter(pk=consent.pk).exists()
    if answers[0][0] == 200:
        pair = __import__("json").loads(answers[0][1])
        api_now = api_status(pair["access_token"])
        # The user consents again, to the same app, later: the orphaned family must not come back.
        flow2 = Flow(flow.client, gallery.client_id, OFFLINE, extra={"tenant": "acme"})
        flow2.consent(flow2.start())
        renewed = refresh(gallery.client_id, pair["refresh_token"]) if "refresh_token" in pair else None
        assert api_now != 200 and (renewed is None or renewed.status_code != 200), (
            f"token issued after the consent was revoked: api {api_now}, "
            f"refresh after re-consent {renewed and renewed.status_code}"
        )


@needs_pg
@pytest.mark.django_db(transaction=True)
def test_a_code_exchanged_while_its_consent_is_narrowed_gets_only_what_is_left(
    world, gallery, browser_of, monkeypatch
):
    """The consent is narrowed (offline access taken back) while a code exchange reads its grant: the
    exchange waits for the narrowing's lock and then judges the consent as narrowed, not as it was
    when its statement began. Otherwise it would answer with offline access and a refresh token
    that comes back to life the day the user grants offline access again."""
    from scopes.consent import services as consent_services

    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    data = code_request(code, gallery.client_id, flow.verifier)
    reached, go = threading.Event(), threading.Event()
    cap = consent_services._cap_grant_tokens

    def cap_then_wait(*args, **kwargs):
        cap(*args, **kwargs)  # the consent's scopes are already narrowed, not yet committed
        go.backend = connection.connection.info.backend_pid  # type: ignore[attr-defined]
        reached.set()
        go.wait(timeout=30)

    monkeypatch.setattr(consent_services, "_cap_grant_tokens", cap_then_wait)
    narrowed: list = []

    def narrow() -> None:
        try:
            consent_services.consent_narrow(actor=world.member_a, consent=consent, remove=["offline_access"])
            narrowed.append(True)
        finally:
            connections.close_all()

    narrowing = threading.Thread(target=narrow)
    narrowing.start()
    assert reached.wait(timeout=10)
    answers: list = []
    exchange = _in_thread(lambda: Client().post("/o/token/", data), answers)
    try:
        wait_until_blocked_by(go.backend, exchange, answers)  # type: ignore[attr-defined]
    finally:
        go.set()
        narrowing.join(timeout=30)
        exchange.join(timeout=30)
    assert narrowed == [True]
    assert len(answers) == 1 and answers[0][0] == 200, answers
    pair = json.loads(answers[0][1])
    assert "offline_access" not in pair["scope"].split() and "refresh_token" not in pair, pair
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert sorted(consent.scopes.values_list("name", flat=True)) == ["photos.read"]


def test_a_code_issued_before_the_consent_was_revoked_is_refused_after(world, gallery, browser_of):
    """Guard: sequentially, a revoked consent's outstanding code yields nothing."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, OFFLINE, extra={"tenant": "acme"})
    code = flow.redirect_params(flow.consent(flow.start()))["code"]
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme)
    flow.client.post(reverse("account-app-revoke", args=[consent.pk]))
    response = Client().post("/o/token/", code_request(code, gallery.client_id, flow.verifier))
    assert response.status_code == 400
