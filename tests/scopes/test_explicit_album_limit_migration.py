"""Migration scopes 0018: which existing consents it marks album-limited (issue 24, item 1)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from accounts.models import AuditEvent
from scopes.models import Consent, ConsentAlbum
from tests.factories import AccessTokenFactory, AlbumFactory, ApplicationFactory, ConsentFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("scopes.migrations.0018_explicit_album_limit")


def test_consents_that_were_ever_limited_are_marked_and_no_other(world):
    def consent() -> Consent:
        return ConsentFactory(user=world.member_a, tenant=world.acme, application=ApplicationFactory())

    with_rows, with_token, with_audit, _plain, plain_token = (consent() for _ in range(5))
    album = AlbumFactory(tenant=world.acme, owner=world.member_a)
    ConsentAlbum.all_tenants.create(tenant=world.acme, consent=with_rows, object_id=album.pk)
    # Its albums were all deleted, but a token issued with the limit is left: "" is an empty limit.
    AccessTokenFactory(user=world.member_a, tenant=world.acme, application=with_token.application, albums="")
    AccessTokenFactory(user=world.member_a, tenant=world.acme, application=plain_token.application)
    AuditEvent.objects.create(
        action="consent_narrowed",
        target_type="scopes.Consent",
        target_id=str(with_audit.pk),
        before={"albums": [album.pk]},
        after={"albums": []},
    )
    Consent.objects.update(albums_limited=False)

    migration.mark_limited(apps, SimpleNamespace(connection=connection))

    marked = set(Consent.objects.filter(albums_limited=True).values_list("pk", flat=True))
    assert marked == {with_rows.pk, with_token.pk, with_audit.pk}
