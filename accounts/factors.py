"""Second factors (docs/security.md, "Sign-in levels and step-up"): TOTP authenticator apps and recovery codes.

Built on django-otp: its TOTP device (RFC 6238, with replay protection and exponential
back-off after wrong codes) and its static device (single-use codes, deleted when used). This
module holds the rules around them: enrolling proves the code once before the factor counts;
removing a factor, or replacing the recovery codes, needs a second factor given within the last
`REAUTHENTICATION_SECONDS` (sudo mode); each change is audited. Pages only parse input and call
these.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import Model
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import authn, tenancy
from accounts.constants import AuditAction
from accounts.models import Membership, Passkey, Tenant, User
from accounts.services import audit_record

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


class Reauthenticate(Exception):
    """The change needs a second factor given recently: ask for it first (the step-up page)."""


class FactorError(Exception):
    """The input cannot be used (a wrong code, nothing to confirm); nothing was changed."""


def audit_change(
    *,
    user: User,
    action: AuditAction,
    target: Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """A change to a person's factors, in the audit log and webhook stream of each tenant they belong
    to (its administrators rely on their members' factors), or the platform's when they have none."""
    tenant_ids = list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))
    if not tenant_ids:
        audit_record(actor=user, action=action, target=target, before=before, after=after)
        return
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        with tenancy.writing_in(tenant.pk):
            audit_record(actor=user, action=action, target=target, tenant=tenant, before=before, after=after)


def reauthentication() -> authn.Requirement:
    """What a factor change needs of the session's sign-in: a second factor, recently."""
    return authn.Requirement(acr=authn.MFA, max_age=settings.REAUTHENTICATION_SECONDS)


def totp_devices(user: User, *, confirmed: bool = True) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("id"))


def has_second_factor(user: User) -> bool:
    """Whether the person has a factor to sign in with: an authenticator app or a passkey (recovery
    codes alone are not one)."""
    return (
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or Passkey.objects.filter(user=user).exists()
    )


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def check_fresh(sign_in: authn.SignIn) -> None:
    """Refuse a factor change unless the session gave a second factor recently (sudo mode)."""
    if authn.shortfall(sign_in, reauthentication(), now=timezone.now()) is not None:
        raise Reauthenticate("Give your second factor again to change your factors.")


def first_recovery_codes(user: User) -> list[str]:
    """Recovery codes for a person who has none (their first factor); [] when they have some."""
    return _new_recovery_codes(user) if recovery_codes_left(user) == 0 else []


def drop_recovery_codes_without_factor(user: User) -> None:
    """Recovery codes stand in for a factor: with the last one gone, they go too."""
    if not has_second_factor(user):
        StaticDevice.objects.filter(user=user).delete()


@transaction.atomic
def totp_start(*, user: User, sign_in: authn.SignIn) -> TOTPDevice:
    """A new authenticator app, unconfirmed: its secret is shown once, and counts after one good code.

    Someone who already has a factor must have given it recently: a borrowed session must not be
    able to add the borrower's own authenticator.
    """
    if has_second_factor(user):
        check_fresh(sign_in)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


@dataclass(frozen=True)
class Enrolled:
    device: TOTPDevice
    recovery_codes: list[str]  # shown once; empty when the person already had some


@transaction.atomic
def totp_confirm(*, user: User, device_id: int, code: str) -> Enrolled:
    """Confirm an authenticator app with a code from it; the first factor also gets recovery codes."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, pk=device_id, confirmed=False).first()
    if device is None:
        raise FactorError("Start again: that authenticator app set-up has expired.")
    if not device.verify_token(_digits(code)):
        raise FactorError("That code is not right. Check the time on your device and try the newest code.")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_change(user=user, action=AuditAction.FACTOR_ENROLLED, target=device, after={"kind": "totp"})
    return Enrolled(device=device, recovery_codes=first_recovery_codes(user))


@transaction.atomic
def recovery_codes_replace(*, user: User, sign_in: authn.SignIn) -> list[str]:
    """New recovery codes (the old ones stop working); needs a recent second factor."""
    check_fresh(sign_in)
    if not has_second_factor(user):
        raise FactorError("Set up an authenticator app first.")
    return _new_recovery_codes(user)


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    audit_change(
        user=user, action=AuditAction.RECOVERY_CODES_GENERATED, target=device, after={"count": len(codes)}
    )
    return codes


def _recovery_code() -> str:
    # 10 characters of base32 (50 bits), shown as xxxxx-xxxxx; stored without the dash.
    return "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))


@transaction.atomic
def totp_remove(*, actor: User, device_id: int, sign_in: authn.SignIn) -> None:
    """Remove an authenticator app; with the last one go the recovery codes. Needs a recent second factor."""
    check_fresh(sign_in)
    device = TOTPDevice.objects.filter(user=actor, pk=device_id, confirmed=True).first()
    if device is None:
        raise FactorError("There is no such authenticator app on your account.")
    audit_change(user=actor, action=AuditAction.FACTOR_REMOVED, target=device, before={"kind": "totp"})
    device.delete()
    drop_recovery_codes_without_factor(actor)


@dataclass(frozen=True)
class FactorSummary:
    """What an administrator may see of a person's factors: never a key or a code."""

    authenticators: int
    recovery_codes_left: int
    last_used: datetime | None


def summaries(user_ids: list[int]) -> dict[int, FactorSummary]:
    """Per user, their confirmed authenticator apps and recovery codes left (two queries)."""
    found: dict[int, FactorSummary] = {}
    devices = TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list(
        "user_id", "last_used_at"
    )
    codes: dict[int, int] = {}
    for user_id in StaticToken.objects.filter(device__user_id__in=user_ids).values_list(
        "device__user_id", flat=True
    ):
        codes[user_id] = codes.get(user_id, 0) + 1
    for user_id, last_used in devices:
        before = found.get(user_id)
        latest = max((t for t in (last_used, before.last_used if before else None) if t), default=None)
        found[user_id] = FactorSummary(
            (before.authenticators if before else 0) + 1, codes.get(user_id, 0), latest
        )
    return found


def reset_all(*, actor: User, user: User, tenant: Tenant) -> int:
    """Remove every second factor of `user` (the caller decided `actor` may: a tenant's services).

    Audited in `tenant`; returns how many authenticator apps were removed.
    """
    removed = TOTPDevice.objects.filter(user=user).count() + Passkey.objects.filter(user=user).count()
    StaticDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    Passkey.objects.filter(user=user).delete()
    audit_record(
        actor=actor,
        action=AuditAction.FACTORS_RESET,
        target=user,
        tenant=tenant,
        before={"authenticators": removed},
    )
    return removed


def _digits(code: str) -> str:
    return "".join(code.split())[:8]


def verify_second_factor(user: User, code: str) -> str | None:
    """Check a code from an authenticator app, or a recovery code (used up); None when neither.

    Returns the RFC 8176 method the code proves. Each device backs off after wrong codes
    (django-otp's throttling); the pages add a per-account limit on top (accounts.ratelimit).
    """
    typed = "".join(code.split()).replace("-", "").lower()
    if not typed or len(typed) > 16:
        return None
    if typed.isdigit():
        for device in totp_devices(user):
            if device.verify_token(typed):
                return authn.AMR_OTP
        return None
    with transaction.atomic():
        for static in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if static.verify_token(typed):  # deletes the code it matched: each works once
                audit_change(
                    user=user,
                    action=AuditAction.RECOVERY_CODE_USED,
                    target=static,
                    after={"left": static.token_set.count()},
                )
                return authn.AMR_OTP
    return None


def audit_step_up(user: User) -> None:
    """A signed-in person gave their second factor again (before a consent or a factor change)."""
    audit_change(user=user, action=AuditAction.SIGN_IN_STEPPED_UP, target=user, after={"acr": authn.MFA})


def second_factor_limits(user: User) -> list[tuple[str, str]]:
    """The per-account limit on wrong second-factor codes (sign-in and step-up alike)."""
    return [("second-factor-user", f"user:{user.pk}")]


def record_second_factor(request: HttpRequest, *, method: str) -> authn.SignIn:
    """The session's user just gave a second factor: its sign-in is now `mfa`, as of now."""
    return authn.record(request.session, acr=authn.MFA, amr=[authn.AMR_PASSWORD, method, authn.AMR_MFA])


@receiver(user_logged_in, dispatch_uid="accounts.factors.password_sign_in")
def _password_sign_in(sender: object, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    """Every sign-in starts at the password level; the second-factor page raises it after login()."""
    if request is not None and hasattr(request, "session"):
        authn.record(request.session, acr=authn.PASSWORD, amr=[authn.AMR_PASSWORD])
