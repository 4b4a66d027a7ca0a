"""Issue 24, item 9: an application stores only what the server supports.

The admin form offered the implicit, password and hybrid grants, "Skip authorization" (no effect:
the consent view decides) and "Algorithm: No OIDC support" on apps that get RS256 ID tokens; an
administrator could save an Implicit app that then failed at runtime. Now the form offers only the
supported grant types and hides the other two, `clean()` refuses them for every writer that
validates, a database constraint refuses them for every writer that does not, and migration
scopes 0019 maps stored values (unsupported grants -> authorization code).
"""

from __future__ import annotations

import re
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from scopes.models import Application
from tests.factories import ApplicationFactory, UserFactory

pytestmark = pytest.mark.attack

SUPPORTED = {
    Application.GRANT_AUTHORIZATION_CODE,
    Application.GRANT_DEVICE_CODE,
    Application.GRANT_CLIENT_CREDENTIALS,
}
UNSUPPORTED = [Application.GRANT_IMPLICIT, Application.GRANT_PASSWORD, Application.GRANT_OPENID_HYBRID]
CONSTRAINTS = (
    "application_supported_grant_type",
    "application_no_skip_authorization",
    "application_server_signs_id_tokens",
)


@pytest.fixture
def operator(db, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_form_offers_only_supported_grants_and_hides_the_rest(operator):
    page = operator.get("/admin/scopes/application/add/").content.decode()
    offered = set(re.findall(r'name="authorization_grant_type"[^>]*value="([^"]*)"', page)) | set(
        re.findall(r'value="([^"]*)"[^>]*name="authorization_grant_type"', page)
    )
    assert offered == SUPPORTED
    assert 'name="skip_authorization"' not in page
    assert 'name="algorithm"' not in page
    assert "No OIDC support" not in page
    assert "RS256, by the server&#x27;s signing keys" in page
    for name in ("Implicit", "Resource owner password-based", "OpenID connect hybrid"):
        assert name not in page


def test_the_admin_never_stores_a_secret_in_plain_text(operator):
    """DOT's "hash client secret" checkbox is not offered, and a posted "off" is ignored."""
    page = operator.get("/admin/scopes/application/add/").content.decode()
    assert 'name="hash_client_secret"' not in page
    answer = operator.post(
        "/admin/scopes/application/add/",
        {
            "name": "Backend",
            "client_id": "backend",
            "client_type": "confidential",
            "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
            "client_secret": "a-plain-secret-typed-by-an-admin",
            "redirect_uris": "",
            "scope_links-TOTAL_FORMS": "0",
            "scope_links-INITIAL_FORMS": "0",
            "hash_client_secret": "",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    app = Application.objects.get(client_id="backend")
    assert app.hash_client_secret is True
    assert app.client_secret != "a-plain-secret-typed-by-an-admin"
    assert app.client_secret.startswith("pbkdf2_") or "$" in app.client_secret


@pytest.mark.parametrize("grant", UNSUPPORTED)
def test_the_admin_refuses_an_unsupported_grant_and_saves_nothing(operator, grant, unchanged):
    with unchanged():
        answer = operator.post(
            "/admin/scopes/application/add/",
            {
                "name": "Old SPA",
                "client_id": "old-spa",
                "client_type": "public",
                "authorization_grant_type": grant,
                "redirect_uris": "https://spa.example/cb",
                "scope_links-TOTAL_FORMS": "0",
                "scope_links-INITIAL_FORMS": "0",
                "skip_authorization": "on",
                "algorithm": "HS256",
            },
        )
    assert answer.status_code == 200  # the form again, with the error on the field
    assert "Select a valid choice" in answer.content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *[("authorization_grant_type", grant) for grant in UNSUPPORTED],
        ("skip_authorization", True),
        ("algorithm", Application.HS256_ALGORITHM),
        ("algorithm", Application.RS256_ALGORITHM),
    ],
)
def test_model_validation_refuses_what_the_server_does_not_support(db, field, value):
    app = ApplicationFactory.build(**{field: value})
    with pytest.raises(ValidationError) as refused:
        app.full_clean(exclude=["user", "tenant"])
    assert field in refused.value.message_dict


def test_model_validation_refuses_a_public_client_credentials_app(db):
    """Class hunt: the grant authenticates the client, so a public one would fail at every request."""
    app = ApplicationFactory.build(
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_type=Application.CLIENT_PUBLIC
    )
    with pytest.raises(ValidationError) as refused:
        app.full_clean(exclude=["user", "tenant"])
    assert "client_type" in refused.value.message_dict


@pytest.mark.parametrize("grant", sorted(SUPPORTED))
def test_model_validation_accepts_each_supported_grant(db, grant):
    ApplicationFactory.build(
        authorization_grant_type=grant, client_type=Application.CLIENT_CONFIDENTIAL, client_secret="s3cret"
    ).full_clean(exclude=["user", "tenant"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("authorization_grant_type", Application.GRANT_IMPLICIT),
        ("skip_authorization", True),
        ("algorithm", "HS256"),
    ],
)
def test_the_database_refuses_them_from_a_writer_that_skips_validation(db, field, value):
    app = ApplicationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.filter(pk=app.pk).update(**{field: value})


def _without_constraints() -> None:
    """Let this test's transaction hold rows stored before migration 0019 (rolled back after)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending on the table
            for name in CONSTRAINTS:
                cursor.execute(f"ALTER TABLE scopes_application DROP CONSTRAINT {name}")
        else:  # SQLite: the triggers standing for the constraints (accounts.migration_operations.AddCheck)
            for name in CONSTRAINTS:
                cursor.execute(f'DROP TRIGGER "{name}_insert"')
                cursor.execute(f'DROP TRIGGER "{name}_update"')


def test_the_data_migration_maps_stored_unsupported_values(db):
    kept = ApplicationFactory(authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS)
    old = {grant: ApplicationFactory() for grant in UNSUPPORTED}
    _without_constraints()
    for grant, app in old.items():
        Application.objects.filter(pk=app.pk).update(
            authorization_grant_type=grant, skip_authorization=True, algorithm="HS256"
        )
    migration = import_module("scopes.migrations.0019_supported_application_settings")
    migration.map_unsupported(django_apps, SimpleNamespace(connection=connection))
    for app in old.values():
        app.refresh_from_db()
        assert (app.authorization_grant_type, app.skip_authorization, app.algorithm) == (
            Application.GRANT_AUTHORIZATION_CODE,
            False,
            "",
        )
    kept.refresh_from_db()
    assert kept.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
