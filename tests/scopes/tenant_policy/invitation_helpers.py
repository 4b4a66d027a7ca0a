"""Invitations as the tests send them: through the tenant page, the link read from the e-mail."""

from __future__ import annotations

import re

from django.core import mail
from django.test import TestCase

from accounts.models import Membership, Role, User
from scopes.models import Scope
from tests.factories import RoleFactory, RoleGrantFactory


def invite(browser, email: str, role: Role, slug: str = "acme"):
    """Send from the tenant page; the e-mail leaves when the invitation commits (run here)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return browser.post(f"/account/org/{slug}/invitations/", {"email": email, "role": role.pk})


def coordinator(world) -> User:
    """member2_a, made a tenant administrator with a narrow role: tenant.admin and photos.read (own)."""
    role = RoleFactory(name="Coordinator", tenant=world.acme)
    for name in ("tenant.admin", "photos.read"):
        RoleGrantFactory(role=role, scope=Scope.objects.get(name=name), reach="own")
    Membership.objects.filter(user=world.member2_a, tenant=world.acme).update(role=role)
    return world.member2_a


def link_sent_to(email: str) -> str:
    """The path of the link in the last e-mail sent to `email`."""
    message = [m for m in mail.outbox if email in m.to][-1]
    return re.search(r"http://testserver(/account/join/\S+/)", message.body).group(1)
