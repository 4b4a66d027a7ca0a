"""A consent request reads the grant once and the registry once (GET and POST of `/o/authorize/`).

The grant's rows (`scopes.access.rows.grant_rows`: role grants, remembered consent, the tenant's
policy, the consent's albums) and the registry (its epoch, `scopes.access.selectors.registry`) are
read once per request by the flow (`scopes.consent.flow`) and handed to every step that needs them.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.albums import details
from tests.factories import AlbumFactory
from tests.oauth import Flow

pytestmark = pytest.mark.django_db


def _reads(queries: CaptureQueriesContext) -> dict[str, int]:
    """How many statements read the grant's rows, and how many read the registry (its epoch)."""
    sql = [q["sql"] for q in queries.captured_queries]
    grant = sum("scopes_consent_scopes cs" in s and "FROM (SELECT" in s for s in sql)
    alone = sum(
        "scopes_consent_scopes cs" not in s
        and ("scopes_registry_version()" in s or ("scopes_registry_epoch" in s and "id = 1" in s))
        for s in sql
    )
    # The grant's query reads the epoch too (scopes.access.rows.epoch_read): a request whose grant
    # read comes first needs no statement of its own for the registry. Either way, one read.
    return {"grant": grant, "registry": max(alone, 1 if grant else 0)}


def _get_and_post(flow: Flow, **consent: object) -> tuple[dict[str, int], dict[str, int], object]:
    with CaptureQueriesContext(connection) as on_get:
        page = flow.start()
    assert page.status_code == 200
    with CaptureQueriesContext(connection) as on_post:
        answer = flow.consent(page, **consent)
    assert answer.status_code == 302 and "code=" in answer["Location"]
    return _reads(on_get), _reads(on_post), answer


def test_a_consent_page_and_its_answer_read_the_grant_once_and_the_registry_once(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read albums.read")
    on_get, on_post, _ = _get_and_post(flow)
    assert on_get == {"grant": 1, "registry": 1}
    assert on_post == {"grant": 1, "registry": 1}


def test_an_incremental_prompt_consent_reads_the_grant_once(world, gallery, browser_of):
    """include_granted_scopes and prompt=consent used to read the grant again after the write."""
    Flow(browser_of(world.member_a), gallery.client_id, "photos.read").authorize()
    extra = {"include_granted_scopes": "true", "prompt": "consent"}
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read albums.read", extra=extra)
    on_get, on_post, _ = _get_and_post(flow, scopes=["albums.read"])
    assert on_get == {"grant": 1, "registry": 1}
    assert on_post == {"grant": 1, "registry": 1}


def test_remembered_consent_answers_with_one_grant_read(world, gallery, browser_of):
    Flow(browser_of(world.member_a), gallery.client_id, "photos.read").authorize()
    flow = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.read", extra={"include_granted_scopes": "true"}
    )
    with CaptureQueriesContext(connection) as queries:
        answer = flow.start()
    assert answer.status_code == 302 and "code=" in answer["Location"]
    assert _reads(queries) == {"grant": 1, "registry": 1}


def test_an_album_request_reads_the_grant_once(world, gallery, browser_of):
    album = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Mine")
    extra = {"authorization_details": details(["albums.read"]), "include_granted_scopes": "true"}
    flow = Flow(browser_of(world.member_a), gallery.client_id, "albums.read", extra=extra)
    on_get, on_post, _ = _get_and_post(flow, albums=[album.pk])
    assert on_get == {"grant": 1, "registry": 1}
    assert on_post == {"grant": 1, "registry": 1}
