"""Invitations: a tenant administrator invites a person by e-mail with a role they may give.

The rules live here: only the tenant's administrators invite, never with a role reaching further
than their own (the escalation rule of `scopes.roles.rules`, asked again, as the inviter, when the
invitation is accepted); a link is single-use, expires (`INVITATION_DAYS`) and can be revoked; its
token is random and only its hash is stored; the role is the row's, never the link's. Accepting
joins the signed-in account, or creates one for the invited address. Every step is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import tenancy
from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User
from accounts.services import audit_record
from scopes.roles.rules import check_role_assignable
from scopes.roles.services import membership_set
from scopes.tenant_policy.models import Invitation
from scopes.tenant_policy.services import check_tenant_admin

UNUSABLE = "This invitation link cannot be used: it was already used, revoked, or has expired."


class InvitationUnusable(Exception):
    """The link names no invitation that can be used now (one message for every reason)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def pending(tenant: Tenant) -> QuerySet[Invitation]:
    """The tenant's invitations that can still be accepted, newest first."""
    now = timezone.now()
    return (
        Invitation.objects.for_tenant(tenant)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("role", "invited_by")
    )


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    link: str  # shown once to the inviter too (the e-mail may not arrive)


@tenancy.writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def invitation_create(*, actor: User, tenant: Tenant, email: str, role: Role, base_url: str) -> Sent:
    """Invite `email` to `tenant` as `role`; the link is e-mailed once the invitation is committed."""
    check_tenant_admin(actor=actor, tenant=tenant)
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError("Enter a valid e-mail address.", code="bad_email") from None
    if not role.usable_in(tenant.pk):
        raise ValidationError(
            "That role cannot be used in %(tenant)s.", code="bad_role", params={"tenant": tenant}
        )
    check_role_assignable(actor=actor, tenant=tenant, role=role)
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # counts below are exact
    if pending(tenant).count() >= settings.CREATION_CAPS["invitations-pending"]:
        raise ValidationError("Too many invitations are waiting: revoke some first.", code="too_many")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        invited_by=actor,
        token_hash=token_hash(token),
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
    )
    audit_record(
        actor=actor,
        action=AuditAction.INVITATION_CREATED,
        target=invitation,
        tenant=tenant,
        after={"email": email, "role": role.name},
    )
    link = f"{base_url.rstrip('/')}/account/join/{tenant.slug}/{token}/"
    body = (
        f"{actor.get_username()} invites you to join {tenant.name} as {role.name}.\n\n"
        f"Open this link to accept (it works once, until {invitation.expires_at:%d %b %Y %H:%M} UTC):\n{link}\n"
    )
    transaction.on_commit(
        lambda: send_mail(
            subject=f"Join {tenant.name}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
            fail_silently=True,
        )
    )
    return Sent(invitation=invitation, link=link)


@tenancy.writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def invitation_revoke(*, actor: User, tenant: Tenant, invitation_id: int) -> bool:
    """Revoke a pending invitation; False when there is none to revoke."""
    check_tenant_admin(actor=actor, tenant=tenant)
    invitation = pending(tenant).select_for_update(of=("self",)).filter(pk=invitation_id).first()
    if invitation is None:
        return False
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action=AuditAction.INVITATION_REVOKED,
        target=invitation,
        tenant=tenant,
        before={"email": invitation.email, "role": invitation.role.name},
    )
    return True


def usable(tenant: Tenant, token: str) -> Invitation | None:
    """The pending invitation this link names in this tenant, or None (read only)."""
    tenancy.enter_tenant(tenant.pk)  # the link names the tenant; the token is the credential
    return pending(tenant).filter(token_hash=token_hash(token)).first()


def _accept(invitation: Invitation, user: User) -> Membership:
    tenant = invitation.tenant
    if Membership.objects.filter(user=user, tenant=tenant).exists():
        raise ValidationError(
            "You are already a member of %(tenant)s.", code="member", params={"tenant": tenant}
        )
    if invitation.invited_by is None:
        raise InvitationUnusable(UNUSABLE)
    # As the inviter, now: an inviter demoted or removed since cannot give the role any more.
    membership = membership_set(actor=invitation.invited_by, user=user, tenant=tenant, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        actor=user,
        action=AuditAction.INVITATION_ACCEPTED,
        target=invitation,
        tenant=tenant,
        after={"user": user.get_username(), "role": invitation.role.name},
    )
    return membership


def _locked(tenant: Tenant, token: str) -> Invitation:
    invitation = pending(tenant).select_for_update(of=("self",)).filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise InvitationUnusable(UNUSABLE)
    return invitation


@tenancy.writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def invitation_accept(*, tenant: Tenant, token: str, user: User) -> Membership:
    """The signed-in `user` accepts: they join with the invitation's role; the link is used up."""
    return _accept(_locked(tenant, token), user)


@tenancy.writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def invitation_accept_new(*, tenant: Tenant, token: str, username: str, password: str) -> User:
    """A new account for the invited address, joined with the invitation's role."""
    invitation = _locked(tenant, token)
    model = get_user_model()
    username = model.normalize_username(username.strip())
    if not username or len(username) > 150:
        raise ValidationError("Choose a username (at most 150 characters).", code="bad_username")
    if model.objects.filter(username__iexact=username).exists():
        raise ValidationError("That username is taken.", code="taken")
    # The link came to this address: it is proven (accounts.recovery, e-mail verification).
    user = model(username=username, email=invitation.email, verified_email=invitation.email)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    _accept(invitation, user)
    return user
