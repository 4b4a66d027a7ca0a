"""The tenant administrator's page `/account/org/<slug>/`: it offers only what its services would accept
from this person, lists no machinery as an app, and the decision mail links back absolutely."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Membership, Role
from scopes.machines.services import personal_token_app_ensure, service_account_create
from scopes.models import Scope
from scopes.roles.services import role_grants_set, role_save
from scopes.tenant_policy import services
from scopes.tenant_policy.models import RequestKind, RequestStatus
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def page_of(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/account/org/acme/")
    assert response.status_code == 200
    return response.content.decode()


def request_card(html: str, request_id: int) -> str:
    start = html.index(f'data-request="{request_id}"')
    return html[start : html.index("</li>\n  ", start)]


def test_roles_offered_hold_what_was_asked_and_are_the_approvers_to_give(world):
    asked = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    # A tenant role of acme that does not hold photos.delete: it does not meet the request.
    reader = role_save(actor=None, role=Role(name="Reader", tenant=world.acme))
    card = request_card(page_of(world.admin_a), asked.pk)
    offered = re.findall(r"Give them the role <strong>([^<]+)</strong>", card)
    assert offered == ["Member", "Admin", "Owner"]  # the weakest first; neither Guest (theirs) nor Reader
    assert reader.name not in offered
    assert 'value="role:' + str(world.role("Member").pk) + '" checked' in card


def test_an_approver_with_a_weaker_role_is_offered_nothing_stronger_than_theirs(world):
    """A tenant role holding tenant.admin and photos.read only may decide, but may give no role
    with rights it lacks, nor add photos.delete to a global role: the page says so and offers no Approve."""
    steward = role_save(actor=None, role=Role(name="Steward", tenant=world.acme))
    role_grants_set(
        actor=None,
        role=steward,
        grants=[
            (Scope.objects.get(name="tenant.admin"), "tenant"),
            (Scope.objects.get(name="photos.read"), "tenant"),
        ],
    )
    Membership.objects.filter(user=world.member2_a, tenant=world.acme).update(role=steward)
    asked = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    card = request_card(page_of(world.member2_a), asked.pk)
    assert "Give them the role" not in card and "Add it to their role" not in card
    assert "data-no-choice" in card and "only a superuser changes it" in card
    assert 'value="approve"' not in card


def test_the_app_list_leaves_out_personal_tokens_and_service_accounts(world):
    personal_token_app_ensure()
    account, _ = service_account_create(
        actor=world.owner_a,
        tenant=world.acme,
        name="Nightly",
        role=world.role("Member"),
        scopes=["photos.read"],
    )
    other = ApplicationFactory(name="Elsewhere", tenant=world.globex)
    html = page_of(world.admin_a)
    assert 'data-app="test-gallery"' in html
    assert "Personal access tokens" not in html and "tenant.admin" not in html
    assert f'data-app="{account.application.client_id}"' not in html
    assert f'data-app="{other.client_id}"' not in html  # another tenant's app


def test_an_undecided_app_has_no_status_chosen_for_it(world):
    html = page_of(world.admin_a)
    card = html[html.index('data-app="test-gallery"') :]
    card = card[: card.index("</li>")]
    assert "Not decided" in card
    assert "checked" not in card.split("In Acme it is")[1].split("</fieldset>")[0]
    services.tenant_app_set(actor=world.owner_a, tenant=world.acme, application=world.app, status="blocked")
    html = page_of(world.admin_a)
    card = html[html.index('data-app="test-gallery"') :]
    assert re.search(r'value="blocked" checked', card[: card.index("</li>")])


def test_each_choice_box_sits_inside_its_own_label(world):
    """Boxes and their words are one element each: they cannot wrap onto a neighbour's label."""
    services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.APP, application=world.app
    )
    html = page_of(world.admin_a)
    boxes = re.findall(r'<input type="(?:checkbox|radio)"[^>]*>', html)
    assert boxes
    assert len(re.findall(r'<label class="choice"><input type="(?:checkbox|radio)"', html)) == len(boxes)


def test_the_one_choice_field_approves_with_a_role(world):
    asked = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    owner = Client()
    owner.force_login(world.owner_a)
    response = owner.post(
        f"/account/org/acme/requests/{asked.pk}/decide/",
        {"decision": "approve", "grant": f"role:{world.role('Member').pk}"},
    )
    assert response.status_code == 302
    asked.refresh_from_db()
    assert asked.status == RequestStatus.APPROVED
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == "Member"


def test_a_forged_choice_is_refused_and_changes_nothing(world):
    asked = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.SCOPE, scopes=["photos.delete"]
    )
    member = Client()
    member.force_login(world.member_a)  # not an administrator: the page does not exist for them
    forged = {"decision": "approve", "grant": f"role:{world.role('Owner').pk}"}
    assert member.post(f"/account/org/acme/requests/{asked.pk}/decide/", forged).status_code == 404
    admin = Client()
    admin.force_login(world.admin_a)
    url = f"/account/org/acme/requests/{asked.pk}/decide/"
    assert admin.post(url, {"decision": "approve", "grant": "role:99999999"}).status_code == 404
    assert admin.post(url, {"decision": "approve", "grant": "reach:everywhere"}).status_code == 302
    asked.refresh_from_db()
    assert asked.status == RequestStatus.PENDING
    assert Membership.objects.get(user=world.guest_a, tenant=world.acme).role.name == "Guest"


def test_the_decision_mail_links_to_the_requests_page_absolutely(
    world, settings, django_capture_on_commit_callbacks
):
    settings.ALLOWED_HOSTS = ["photos.example.com"]
    world.guest_a.email = "guest@example.com"
    world.guest_a.save()
    asked = services.access_request_file(
        requester=world.guest_a, tenant=world.acme, kind=RequestKind.APP, application=world.app
    )
    owner = Client()
    owner.force_login(world.owner_a)
    url = f"/account/org/acme/requests/{asked.pk}/decide/"
    with django_capture_on_commit_callbacks() as callbacks:  # the mail goes once the decision commits
        answer = owner.post(url, {"decision": "refuse", "note": "not now"}, HTTP_HOST="photos.example.com")
    assert answer.status_code == 302
    for callback in callbacks:
        callback()
    (message,) = mail.outbox
    assert "See your requests at http://photos.example.com/account/requests/." in message.body
