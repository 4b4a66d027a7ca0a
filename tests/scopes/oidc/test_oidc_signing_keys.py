"""ID-token signing keys in the database (scopes.oidc.keys): every app server reads the same keys, the
private halves are sealed at rest, and rotation publishes, signs and retires them as the directory did."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from jwcrypto import jwk, jwt

from scopes.oidc import keys
from scopes.oidc.models import SigningKey
from tests.oauth import Flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_keys():
    """The database as the key source (the suite's default is a key directory: tests/conftest.py)."""
    with override_settings(OIDC_KEY_DIR="", OIDC_RSA_PRIVATE_KEY="", OIDC_RSA_PRIVATE_KEY_FILE=""):
        yield


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_oidc_key", *args, stdout=out)
    return out.getvalue()


def id_token_of(browser, gallery) -> str:
    flow = Flow(browser, gallery.client_id, "openid", extra={"nonce": "n-1"})
    response = flow.exchange(flow.authorize())
    assert response.status_code == 200, response.content
    return response.json()["id_token"]


def verify(id_token: str) -> dict:
    key_set = jwk.JWKSet.from_json(Client().get("/o/.well-known/jwks.json").content)
    return json.loads(jwt.JWT(jwt=id_token, key=key_set, algs=["RS256"]).claims)


def test_without_a_key_openid_is_refused(world, gallery, browser_of, database_keys):
    assert keys.signing_keys() is None
    flow = Flow(browser_of(world.member_a), gallery.client_id, "openid")
    assert Flow.redirect_params(flow.start())["error"] == "invalid_scope"


def test_the_private_half_is_sealed_at_rest(world, database_keys):
    kid = rotate().split()[-1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_pem FROM scopes_signingkey WHERE kid = %s", [kid])
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:") and "PRIVATE KEY" not in stored
    assert SigningKey.objects.get(kid=kid).private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert rotate("--if-empty") == ""  # one is there: nothing made
    assert SigningKey.objects.count() == 1


def test_rotation_publishes_both_signs_with_the_new_and_deletes_the_expired(
    world, gallery, browser_of, database_keys
):
    rotate()
    old = id_token_of(browser_of(world.member_a), gallery)
    rotate()
    new = id_token_of(browser_of(world.member2_a), gallery)
    jwks = Client().get("/o/.well-known/jwks.json").json()["keys"]
    assert len(jwks) == 2 and all("d" not in k for k in jwks)  # public halves only
    newest = SigningKey.objects.order_by("-created").first()
    header = new.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"] == newest.kid
    assert verify(old)["sub"] == str(world.member_a.pk)
    assert verify(new)["sub"] == str(world.member2_a.pk)
    # Once the old key's last ID token has expired, the next rotation deletes it.
    first, second = SigningKey.objects.order_by("created")
    lifetime = keys.id_token_lifetime()
    SigningKey.objects.filter(pk=first.pk).update(created=first.created - 3 * lifetime)
    SigningKey.objects.filter(pk=second.pk).update(created=second.created - 2 * lifetime)
    out = rotate()
    assert f"Deleted {first.kid}" in out
    assert set(SigningKey.objects.values_list("kid", flat=True)) == {second.kid, out.split()[3]}


def test_a_key_no_configured_secret_opens_is_never_used(world, database_keys, settings):
    rotate()
    settings.AUDIT_SECRET_KEYS = ["another-key-that-opens-nothing-0123456789"]
    assert keys.signing_keys() is None
    assert Client().get("/o/.well-known/jwks.json").json()["keys"] == []


def test_reseal_seals_again_with_the_first_key(world, database_keys, settings):
    rotate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_pem FROM scopes_signingkey")
        (before,) = cursor.fetchone()
    old = list(settings.AUDIT_SECRET_KEYS)
    settings.AUDIT_SECRET_KEYS = ["a-brand-new-audit-secret-key-0123456789", *old]
    assert "Resealed 1" in rotate("--reseal")
    settings.AUDIT_SECRET_KEYS = ["a-brand-new-audit-secret-key-0123456789"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_pem FROM scopes_signingkey")
        (after,) = cursor.fetchone()
    assert after != before
    assert keys.signing_keys() is not None  # the new key alone opens it


def test_a_fixed_key_from_the_environment_is_not_rotated_here(world, database_keys):
    pem = jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()
    with override_settings(OIDC_RSA_PRIVATE_KEY=pem):
        with pytest.raises(CommandError, match="rotate it where that key is kept"):
            rotate()
        assert keys.signing_keys() is not None
    assert not SigningKey.objects.exists()


def test_an_old_key_stays_published_for_the_id_token_lifetime(world, database_keys):
    rotate()
    rotate()
    first, second = SigningKey.objects.order_by("created")
    assert len(keys.public_jwks()) == 2
    SigningKey.objects.filter(pk=second.pk).update(
        created=second.created - keys.id_token_lifetime() - timedelta(seconds=5)
    )
    SigningKey.objects.filter(pk=first.pk).update(created=first.created - 3 * keys.id_token_lifetime())
    assert [k["kid"] for k in keys.public_jwks()] == [second.kid]
