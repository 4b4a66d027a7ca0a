"""Writes for service accounts, personal access tokens and token policies: checked, locked, audited.

A tenant administrator never makes a service account stronger than themselves: its membership is
written through `scopes.roles.services.membership_set` with the administrator as actor, so the same
escalation rule as for any member applies (`scopes.roles.rules.check_membership_change`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from oauth2_provider.generators import generate_client_id, generate_client_secret

from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User
from accounts.selectors import membership_in
from accounts.services import audit_record
from scopes.access.selectors import registry, role_reaches
from scopes.consent.rules import cap_scopes
from scopes.consent.services import consent_grant, consent_revoke, tokens_revoke
from scopes.constants import ScopeName
from scopes.machines.models import (
    PERSONAL_TOKEN_PREFIX,
    PERSONAL_TOKENS_CLIENT_ID,
    PersonalAccessToken,
    PersonalTokenMode,
    ServiceAccount,
    TokenPolicy,
)
from scopes.machines.selectors import NOT_FOR_MACHINE_TOKENS, policy_of, scopes_offered
from scopes.models import AccessToken, Application, ApplicationScope, Consent, Scope
from scopes.registry import closure
from scopes.roles.rules import check_manages_tenant, check_not_stronger
from scopes.roles.services import membership_remove, membership_set


def personal_token_app_ensure() -> Application:
    """The app personal access tokens belong to, made the first time it is needed (a write: a
    service, although migration scopes 0007 already made it, so that a database emptied by hand or
    by a test's flush still works).

    Its allowed scopes are every scope but `offline_access` (a personal token is never refreshed;
    a superuser may narrow them in the admin). Its secret is random and thrown away: nobody
    authenticates as it, and it has no redirect URI, so it issues nothing but what
    `personal_token_create` makes.
    """
    app, created = Application.objects.get_or_create(
        client_id=PERSONAL_TOKENS_CLIENT_ID,
        defaults={
            "name": "Personal access tokens",
            "publisher": "this server",
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "",
            "client_secret": secrets.token_urlsafe(32),
        },
    )
    if created:
        for scope in Scope.objects.exclude(name=ScopeName.OFFLINE_ACCESS):
            ApplicationScope.objects.create(application=app, scope=scope)
    return app


def _overlap_default() -> timedelta:
    return timedelta(hours=int(getattr(settings, "SERVICE_ACCOUNT_SECRET_OVERLAP_HOURS", 24)))


def _check_scopes(scopes: Iterable[str], *, covered: frozenset[str], who: str) -> list[str]:
    """The scopes, normalised; refused when unknown, `offline_access`, or beyond what `covered` holds."""
    implications = registry().implications
    wanted = sorted(set(scopes))
    if not wanted:
        raise ValidationError("Choose at least one scope.", code="no_scopes")
    unknown = [s for s in wanted if s not in implications]
    if unknown:
        raise ValidationError(
            "Unknown scopes: %(s)s.", code="unknown_scope", params={"s": ", ".join(unknown)}
        )
    unfit = sorted(set(wanted) & NOT_FOR_MACHINE_TOKENS - {ScopeName.OFFLINE_ACCESS})
    if unfit:  # offline_access has its own refusal, below
        raise ValidationError(
            "These tokens cannot carry %(s)s: sign-in scopes and tenant.admin are not for the API.",
            code="not_for_tokens",
            params={"s": ", ".join(unfit)},
        )
    if ScopeName.OFFLINE_ACCESS in closure(wanted, implications):
        raise ValidationError(
            "These tokens are never refreshed: offline_access cannot be given.", code="offline"
        )
    # A composite counts as its parts (as on the consent page): photos.write is fine for a role
    # that holds upload, update, delete and read, and is kept as those parts.
    beyond = sorted(
        s for s in wanted if not {p for p in closure([s], implications) if not implications.get(p)} <= covered
    )
    if beyond:
        raise ValidationError(
            "%(who)s does not allow %(s)s.", code="beyond_role", params={"who": who, "s": ", ".join(beyond)}
        )
    return cap_scopes(wanted, allowed=covered, implications=implications)


# --- Service accounts


@transaction.atomic
def service_account_create(
    *, actor: User, tenant: Tenant, name: str, role: Role, scopes: Iterable[str]
) -> tuple[ServiceAccount, str]:
    """A new service account in `tenant` with `role`, its confidential app and consent; and its secret.

    The secret is returned once and stored hashed. Refused when the tenant already has
    `CREATION_CAPS["service-accounts"]` accounts, when the actor does not manage the
    tenant or `role` reaches further than the actor's own role there (the membership rule), or a
    scope is one `role` does not cover.
    """
    name = name.strip()
    if not name:
        raise ValidationError("A service account needs a name.", code="no_name")
    check_manages_tenant(actor=actor, tenant=tenant)
    # Locked: accounts made at once in one tenant are counted one after the other (the cap).
    Tenant.objects.select_for_update().filter(pk=tenant.pk).exists()
    cap = settings.CREATION_CAPS["service-accounts"]
    if ServiceAccount.objects.filter(tenant=tenant).count() >= cap:
        raise ValidationError(
            "%(tenant)s already has %(cap)s service accounts: delete one first.",
            code="too_many",
            params={"cap": cap, "tenant": tenant.name},
        )
    if ServiceAccount.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError("This tenant already has a service account of that name.", code="duplicate")
    covered = frozenset(role_reaches(role.pk))
    granted = _check_scopes(scopes, covered=covered, who=f"The role {role.name}")
    user = User(username=f"svc-{tenant.slug}-{slugify(name)[:40]}-{secrets.token_hex(3)}", first_name=name)
    user.set_unusable_password()  # never signs in: it has no password and is not staff
    user.save()
    membership_set(actor=actor, user=user, tenant=tenant, role=role)  # the escalation rule runs here
    secret = generate_client_secret()
    application = Application.objects.create(
        name=f"{name} (service account)",
        publisher=tenant.name,
        client_id=generate_client_id(),
        client_secret=secret,
        hash_client_secret=True,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        tenant=tenant,
    )
    for scope in Scope.objects.filter(name__in=granted):
        ApplicationScope.objects.create(application=application, scope=scope)
    consent_grant(actor=actor, user=user, tenant=tenant, application=application, scopes=granted)
    account = ServiceAccount.objects.create(
        tenant=tenant, user=user, application=application, name=name, created_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.SERVICE_ACCOUNT_CREATED,
        target=account,
        tenant=tenant,
        after={"name": name, "role": role.name, "scopes": granted, "client_id": application.client_id},
    )
    return account, secret


def _locked(account: ServiceAccount) -> ServiceAccount:
    found = ServiceAccount.objects.select_for_update().filter(pk=account.pk).select_related("user", "tenant")
    locked = found.first()
    if locked is None:
        raise ValidationError("This service account no longer exists.", code="gone")
    return locked


def check_manages_service_account(*, actor: User, account: ServiceAccount) -> None:
    """Only someone who manages its tenant, and is at least as strong as its role, acts on one."""
    check_manages_tenant(actor=actor, tenant=account.tenant)
    membership = Membership.objects.filter(user_id=account.user_id, tenant=account.tenant).select_related(
        "role"
    )
    found = membership.first()
    if found is not None:
        check_not_stronger(actor=actor, tenant=account.tenant, role=found.role, what="this service account")


@transaction.atomic
def service_account_set_active(*, actor: User, account: ServiceAccount, active: bool) -> ServiceAccount:
    """Disable (or enable again) a service account; disabled, its tokens are refused at the next request.

    The standing refuses a token whose user is inactive (scopes.standing); the live tokens are
    deleted as well, so enabling it again does not bring them back.
    """
    account = _locked(account)
    check_manages_service_account(actor=actor, account=account)
    if account.user.is_active == active:
        return account
    account.user.is_active = active
    account.user.save(update_fields=["is_active"])
    revoked = 0 if active else AccessToken.objects.filter(user=account.user).delete()[0]
    audit_record(
        actor=actor,
        action=AuditAction.SERVICE_ACCOUNT_ENABLED if active else AuditAction.SERVICE_ACCOUNT_DISABLED,
        target=account,
        tenant=account.tenant,
        after={"access_tokens_revoked": revoked} if not active else None,
    )
    return account


@transaction.atomic
def service_account_rotate_secret(
    *, actor: User, account: ServiceAccount, overlap: timedelta | None = None
) -> str:
    """A new client secret (returned once); the old one keeps working for `overlap` (default a day)."""
    account = _locked(account)
    check_manages_service_account(actor=actor, account=account)
    overlap = _overlap_default() if overlap is None else overlap
    application = Application.objects.select_for_update().get(pk=account.application_id)
    now = timezone.now()
    if overlap > timedelta(0):
        account.previous_secret = application.client_secret  # already hashed
        account.previous_secret_expires = now + overlap
    else:
        account.previous_secret, account.previous_secret_expires = "", None
    account.save(update_fields=["previous_secret", "previous_secret_expires"])
    secret = generate_client_secret()
    application.client_secret = secret
    application.hash_client_secret = True
    application.save()
    audit_record(
        actor=actor,
        action=AuditAction.SERVICE_ACCOUNT_SECRET_ROTATED,
        target=account,
        tenant=account.tenant,
        after={
            "previous_secret_until": (
                account.previous_secret_expires.isoformat() if account.previous_secret_expires else None
            )
        },
    )
    return secret


@transaction.atomic
def service_account_delete(*, actor: User, account: ServiceAccount) -> None:
    """Delete a service account: its app (and so its tokens), consent and membership.

    Its user row stays, inactive, so the photos it created keep their owner (deleting the user
    would delete them).
    """
    account = _locked(account)
    check_manages_service_account(actor=actor, account=account)
    user, tenant, application_id = account.user, account.tenant, account.application_id
    audit_record(
        actor=actor,
        action=AuditAction.SERVICE_ACCOUNT_DELETED,
        target=account,
        tenant=tenant,
        before={"name": account.name, "user": user.get_username()},
    )
    for consent in Consent.objects.filter(user=user, tenant=tenant):
        consent_revoke(actor=actor, consent=consent)
    membership_remove(actor=actor, user=user, tenant=tenant)
    user.is_active = False
    user.save(update_fields=["is_active"])
    account.delete()
    Application.objects.filter(pk=application_id).delete()


# --- Personal access tokens


@transaction.atomic
def personal_token_create(
    *, actor: User, tenant: Tenant, name: str, scopes: Iterable[str], days: int
) -> tuple[PersonalAccessToken, str]:
    """A personal access token of `actor` for `tenant`; returns it and its value (shown once).

    Refused: not a member there (the same answer as a tenant that does not exist), already
    `CREATION_CAPS["personal-tokens"]` unexpired tokens there, the tenant forbids personal tokens,
    a lifetime beyond the tenant's maximum, a scope the role does not cover. The value is stored as its SHA-256 only, as every token is.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("A token needs a name (at most 100 characters).", code="no_name")
    membership = membership_in(user=actor, tenant=tenant)
    if membership is None or not actor.is_active:
        raise ValidationError("Choose one of your organisations.", code="not_member")
    # Locked: two tokens made at once by one person are counted one after the other (the cap).
    Membership.objects.select_for_update().filter(pk=membership.pk).exists()
    cap = settings.CREATION_CAPS["personal-tokens"]
    live = PersonalAccessToken.objects.filter(
        user=actor, tenant=tenant, access_token__expires__gt=timezone.now()
    ).count()
    if live >= cap:
        raise ValidationError(
            "You already have %(cap)s personal access tokens in %(tenant)s: revoke one first.",
            code="too_many",
            params={"cap": cap, "tenant": tenant.name},
        )
    policy = policy_of(tenant)
    if policy.personal_tokens == PersonalTokenMode.FORBIDDEN:
        raise ValidationError(f"{tenant.name} does not allow personal access tokens.", code="forbidden")
    if not 1 <= days <= policy.max_days:
        raise ValidationError(
            "A token lives between 1 and %(max)s days in %(tenant)s.",
            code="lifetime",
            params={"max": policy.max_days, "tenant": tenant.name},
        )
    application = personal_token_app_ensure()
    offered = scopes_offered(membership, application)
    covered = frozenset(name for name, why in offered if not why)
    granted = _check_scopes(
        scopes,
        covered=closure(covered, registry().implications),
        who=f"Your role {membership.role.name} in {tenant.name}",
    )
    consent_grant(actor=actor, user=actor, tenant=tenant, application=application, scopes=granted)
    value = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken(
        user=actor,
        tenant=tenant,
        application=application,
        scope=" ".join(granted),
        expires=timezone.now() + timedelta(days=days),
    )
    # Only the checksum is stored, whatever DOT's storage setting says: the value is not recoverable.
    token.token = ""
    token._raw_token = value
    token.save()
    personal = PersonalAccessToken.objects.create(
        tenant=tenant, user=actor, access_token=token, name=name, hint=value[: len(PERSONAL_TOKEN_PREFIX) + 4]
    )
    audit_record(
        actor=actor,
        action=AuditAction.PERSONAL_TOKEN_CREATED,
        target=personal,
        tenant=tenant,
        after={"name": name, "scopes": granted, "expires": token.expires.isoformat()},
    )
    return personal, value


@transaction.atomic
def personal_token_revoke(*, actor: User, personal: PersonalAccessToken) -> None:
    """Revoke a personal access token now (audited like every revocation)."""
    token = AccessToken.objects.filter(pk=personal.access_token_id).select_related("user", "tenant").first()
    if token is not None:
        tokens_revoke(actor=actor, access_tokens=[token], via="personal access tokens page")


@transaction.atomic
def token_policy_set(*, actor: User, tenant: Tenant, personal_tokens: str, max_days: int) -> TokenPolicy:
    """Set a tenant's rules for personal access tokens; both apply to existing tokens at their next request."""
    check_manages_tenant(actor=actor, tenant=tenant)
    if personal_tokens not in PersonalTokenMode.values or max_days < 1:
        raise ValidationError("Not a valid token policy.", code="invalid")
    policy, _ = TokenPolicy.objects.select_for_update().get_or_create(tenant=tenant)
    before = {"personal_tokens": policy.personal_tokens, "max_days": policy.max_days}
    policy.personal_tokens, policy.max_days = personal_tokens, max_days
    policy.save()
    audit_record(
        actor=actor,
        action=AuditAction.TOKEN_POLICY_CHANGED,
        target=policy,
        tenant=tenant,
        before=before,
        after={"personal_tokens": personal_tokens, "max_days": max_days},
    )
    return policy
