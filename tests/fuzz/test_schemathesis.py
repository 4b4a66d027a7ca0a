"""Fuzz the photo API from its own OpenAPI schema with schemathesis, once per role.

The test runs as an Owner, an Admin, a Member and a Guest of acme, each holding every API scope,
so the answers cover success and each kind of refusal. Requests come in two kinds: valid by the
schema (positive) and breaking it (negative: wrong types, missing fields, out-of-range values).
Every answer must be no 5xx, have a documented status code, content type and headers, match the
documented body, and never mention globex's member. The schema is loaded from `/api/schema/`
through Django's WSGI handler, inside the test's transaction.

Bounded and deterministic: MAX_EXAMPLES per operation and kind, derandomized, no example
database, so CI sends the same few hundred requests every time, in seconds.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.constants import RoleName
from tests.factories import AlbumFactory, PhotoFactory
from tests.images import image_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = {
    RoleName.OWNER: "owner_a",
    RoleName.ADMIN: "admin_a",
    RoleName.MEMBER: "member_a",
    RoleName.GUEST: "guest_a",
}
MAX_EXAMPLES = 10
ALL_SCOPES = ["photos.write", "albums.write", "profile.read", "offline_access", "audit.read"]


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, kept from closing the database connection after each request.

    The connection holds the test's transaction; Django's own test client disconnects the same
    signal handler for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db, settings, tmp_path, world, mint_token):
    """Photos and albums of every acme role and of globex, and each role's token."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    rows: dict[str, list[int]] = {"photos": [], "albums": []}
    for username in [*ROLES.values(), "member_b"]:
        user = getattr(world, username)
        tenant = world.globex if username == "member_b" else world.acme
        album = AlbumFactory(tenant=tenant, owner=user)
        rows["albums"].append(album.pk)
        rows["photos"].append(PhotoFactory(tenant=tenant, owner=user, album=album).pk)
        rows["photos"].append(PhotoFactory(tenant=tenant, owner=user).pk)
    tokens = {
        role: mint_token(getattr(world, name), world.acme, ALL_SCOPES).token for role, name in ROLES.items()
    }
    return rows, tokens


PNG = image_bytes("PNG", (3, 2), mode="RGB")


def aim(case, rows: dict[str, list[int]]) -> None:
    """Point most generated requests at acme and at ids that exist, so answers are not all 404.

    The generated values still decide: which id of the pool, an id that exists nowhere, globex
    (the token's tenant is acme: a 404) now and then, and whether an upload is a real image.
    """
    slug = str(case.path_parameters.get("tenant_slug", ""))
    case.path_parameters["tenant_slug"] = "globex" if len(slug) % 5 == 4 else "acme"
    generated = case.path_parameters.get("id")
    if isinstance(generated, int) and not isinstance(generated, bool) and generated % 4 != 3:
        pool = rows["albums"] if "/albums/" in case.path else rows["photos"]
        case.path_parameters["id"] = pool[generated % len(pool)]
    if isinstance(case.body, dict) and "image" in case.body and len(str(case.body.get("title"))) % 2 == 0:
        case.body["image"] = PNG  # half the uploads are a real image


@pytest.mark.parametrize("role", list(ROLES))
def test_every_answer_to_every_role_conforms_to_the_schema(fuzz_world, wsgi_app, role):
    """Valid requests (positive) and requests that break the schema (negative), all conformant."""
    rows, tokens = fuzz_world
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    # Deletions last, so the other operations still find the rows.
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) == 13
    sent = 0

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            if mode == GenerationMode.NEGATIVE and operation.path.endswith("/me/"):
                continue  # nothing to negate: it takes only the tenant, and any text is a slug

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case) -> None:
                nonlocal sent
                aim(case, rows)
                response = case.call(headers=headers)
                sent += 1
                case.validate_response(response, checks=CHECKS)
                assert b"member_b" not in response.content, "another tenant's data in the answer"

            try:
                fuzz()
            except Exception as failure:
                failure.add_note(f"{operation.label} as {role}, {mode.value} data")
                raise
    assert sent > 150
