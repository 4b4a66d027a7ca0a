"""Two app servers, one system: two gunicorns sharing PostgreSQL, Redis and an S3 bucket, driven alternately.

Upload on one, read on the other; revoke on one (RFC 7009, and the connected-apps page), refused on
the other at once; demote in the admin of one, refused on the other at once; sign in on one,
consent on the other, exchange the code on the first. Nothing is shared but what a load balancer's
servers share: the database, the cache and the bucket. The PostgreSQL leg of CI runs it.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Membership, User
from scopes.constants import ScopeName as S
from tests.images import image_bytes
from tests.oauth import authorize_params, code_request, form_fields, pkce_pair, redirect_params
from tests.servers import RedisServer, TwoServers, database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]


PNG = image_bytes("PNG", (3, 2), mode="RGB")


@pytest.fixture
def two_servers(s3_server) -> Iterator[tuple[requests.Session, str, str, RedisServer, str]]:
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL leg: servers share the test database over the network")
    redis_server = RedisServer()
    redis_server.start()
    bucket = s3_server.new_bucket()
    shared = {
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "CACHE_KEY_PREFIX": "gp-two-servers",
        "RATE_LIMIT_LOGIN_ACCOUNT": "2/900",
        **s3_server.environment(bucket),
    }
    servers = TwoServers(database_url(), extra_env=shared)
    try:
        one, other = (server.base for server in servers.servers)
        yield requests.Session(), one, other, redis_server, bucket
    finally:
        servers.stop()
        redis_server.kill()


def _wait(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    pytest.fail(f"{base} did not answer")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _try_sign_in(session: requests.Session, base: str, username: str, password: str) -> int:
    page = session.get(f"{base}/account/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{base}/account/login/",
        {"csrfmiddlewaretoken": csrf, "username": username, "password": password},
        allow_redirects=False,
    )
    return answer.status_code


def _sign_in(session: requests.Session, base: str, username: str) -> None:
    assert _try_sign_in(session, base, username, "pw") == 302


def test_two_app_servers_are_one_system(world, gallery, mint_token, two_servers, s3_server):
    session, one, other, redis_server, bucket = two_servers
    _wait(one)
    _wait(other)

    # Upload on one, read on the other: the bytes are in the shared bucket, not on a server's disk.
    uploader = mint_token(world.member_a, world.acme, [S.PHOTOS_UPLOAD, S.PHOTOS_READ])
    created = requests.post(
        f"{one}/api/t/acme/photos/",
        files={"image": ("dot.png", PNG, "image/png")},
        headers=_bearer(uploader.token),
    )
    assert created.status_code == 201, created.text
    photo_id = created.json()["id"]
    read = requests.get(f"{other}/api/t/acme/photos/{photo_id}/image", headers=_bearer(uploader.token))
    assert (read.status_code, read.content) == (200, PNG)
    assert [key.rsplit("/", 1)[0] for key in s3_server.keys(bucket)] == [f"photos/{world.acme.pk}"]
    assert read.headers["X-Request-ID"] != created.headers["X-Request-ID"]

    # Revoke on one (RFC 7009), refused on the other at once.
    reader = mint_token(world.guest_a, world.acme, [S.PHOTOS_READ])
    assert requests.get(f"{other}/api/t/acme/photos/", headers=_bearer(reader.token)).status_code == 200
    revoked = requests.post(f"{one}/o/revoke_token/", {"token": reader.token, "client_id": gallery.client_id})
    assert revoked.status_code == 200
    assert requests.get(f"{other}/api/t/acme/photos/", headers=_bearer(reader.token)).status_code == 401

    # Demote in the admin of one (the owner, a superuser, changes admin_a to Guest): refused on the other.
    demoted = mint_token(world.admin_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_WRITE])
    make_album = {"name": "Holidays"}
    assert (
        requests.post(
            f"{other}/api/t/acme/albums/", json=make_album, headers=_bearer(demoted.token)
        ).status_code
        == 201
    )
    world.owner_a.is_staff = world.owner_a.is_superuser = True
    world.owner_a.save()
    hasher = PBKDF2PasswordHasher()  # the servers hash as deployed, not as the tests do
    for user in (world.owner_a, world.member2_a):
        User.objects.filter(pk=user.pk).update(password=hasher.encode("pw", hasher.salt()))
    admin = requests.Session()
    page = admin.get(f"{one}/admin/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    signed = admin.post(
        f"{one}/admin/login/",
        {"csrfmiddlewaretoken": csrf, "username": "owner_a", "password": "pw", "next": "/admin/"},
        allow_redirects=False,
    )
    assert signed.status_code == 302, signed.text[:300]
    change_url = f"{one}/admin/accounts/tenant/{world.acme.pk}/change/"
    fields = form_fields(admin.get(change_url).text, "slug")
    membership = Membership.objects.get(user=world.admin_a, tenant=world.acme)
    prefix = next(
        name[: -len("-id")] for name, value in fields if name.endswith("-id") and value == str(membership.pk)
    )
    guest = world.role("Guest")
    fields = [(name, str(guest.pk) if name == f"{prefix}-role" else value) for name, value in fields]
    saved = admin.post(change_url, data=fields, headers={"Referer": change_url}, allow_redirects=False)
    assert saved.status_code == 302, saved.text[:2000]
    membership.refresh_from_db()
    assert membership.role_id == guest.pk
    refused = requests.post(f"{other}/api/t/acme/albums/", json=make_album, headers=_bearer(demoted.token))
    assert (refused.status_code, refused.json()["reason"]) == (403, "role_forbids")

    # Sign in on one, consent on the other, exchange the code on the first, use the token on the second.
    _sign_in(session, one, "member2_a")
    verifier, challenge = pkce_pair()
    params = authorize_params(gallery.client_id, "photos.read", challenge, state="s1", tenant="acme")
    page = session.get(f"{other}/o/authorize/?{urlencode(params)}", allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    fields = form_fields(page.text, "request_token")
    answer = session.post(
        f"{other}/o/authorize/", data=[*fields, ("decision", "allow")], allow_redirects=False
    )
    assert answer.status_code == 302, answer.text[:500]
    code = redirect_params(answer.headers["Location"])["code"]
    tokens = requests.post(f"{one}/o/token/", code_request(code, gallery.client_id, verifier))
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]
    assert requests.get(f"{other}/api/t/acme/photos/", headers=_bearer(access)).status_code == 200

    # Take it back on the connected-apps page of the other server: refused on the first at once.
    apps = session.get(f"{other}/account/apps/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', apps.text).group(1)
    revoke_path = re.search(r'action="(/account/apps/\d+/revoke/)"', apps.text).group(1)
    assert (
        session.post(
            f"{other}{revoke_path}", {"csrfmiddlewaretoken": csrf}, allow_redirects=False
        ).status_code
        == 302
    )
    assert requests.get(f"{one}/api/t/acme/photos/", headers=_bearer(access)).status_code == 401

    # The rate limits count in the shared Redis: failures on one server lock the account on the other.
    assert _try_sign_in(requests.Session(), one, "member2_a", "wrong") == 200
    assert _try_sign_in(requests.Session(), other, "member2_a", "wrong") == 200
    assert _try_sign_in(requests.Session(), one, "member2_a", "pw") == 429
    assert redis_server.client().dbsize() > 0

    # Each server is ready on the shared parts, and its metrics add up its workers' (gunicorn.conf.py).
    for base in (one, other):
        ready = requests.get(f"{base}/readyz")
        assert ready.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "storage": "ok"}}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(requests.get(f"{other}/metrics").text)
        for sample in family.samples
    }
    image_reads = ("http_requests_total", (("method", "GET"), ("route", "photo-image"), ("status", "200")))
    assert samples[image_reads] == 1
    assert samples[("api_decisions_total", (("reason", "role_forbids"), ("stage", "collection")))] == 1
