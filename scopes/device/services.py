"""Writes of the device grant: start it, and record the user's decision (once, under a lock)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from accounts import authn
from accounts.models import Tenant, User
from scopes.device.codes import new_user_code
from scopes.models import DeviceGrant

LIFETIME = timedelta(minutes=10)


class TooManyPending(Exception):
    """The client already has `CREATION_CAPS["device-grants-pending"]` unexpired pending grants."""


def device_grant_start(*, client_id: str, scope: str, device_code: str) -> DeviceGrant:
    """A pending device grant with a fresh user code (drawn again in the rare case it is taken).

    Anyone holding a public client id can ask, so a client has at most
    `CREATION_CAPS["device-grants-pending"]` unexpired pending grants at once (TooManyPending):
    the table cannot be grown without bound on a client's word.
    """
    pending = DeviceGrant.objects.filter(
        client_id=client_id, status=DeviceGrant.AUTHORIZATION_PENDING, expires__gt=timezone.now()
    )
    if pending.count() >= settings.CREATION_CAPS["device-grants-pending"]:
        raise TooManyPending(client_id)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                now = timezone.now()
                grant = DeviceGrant.objects.create(
                    client_id=client_id,
                    device_code=device_code,
                    user_code=new_user_code(),
                    scope=scope,
                    interval=oauth2_settings.DEVICE_FLOW_INTERVAL,
                    expires=now + LIFETIME,
                )
                # The first poll may come at once; slow_down counts from the polls after it.
                grant.last_checked = now - timedelta(seconds=grant.interval)
                DeviceGrant.objects.filter(pk=grant.pk).update(last_checked=grant.last_checked)
                return grant
        except IntegrityError:
            continue
    raise RuntimeError("No free user code after five draws.")


def device_grant_decide(
    *,
    grant_id: int,
    user: User,
    tenant: Tenant | None,
    scopes: list[str] | None,
    sign_in: authn.SignIn = authn.NO_SIGN_IN,
) -> bool:
    """Approve (with the tenant and the granted scopes) or deny (scopes None) a pending grant.

    A conditional update: of two decisions on one grant (two tabs), only the first counts. False
    when the grant was no longer pending or has expired.
    """
    pending = DeviceGrant.objects.filter(
        pk=grant_id, status=DeviceGrant.AUTHORIZATION_PENDING, expires__gt=timezone.now()
    )
    if scopes is None:
        return bool(pending.update(status=DeviceGrant.DENIED, user=user))
    return bool(
        pending.update(
            status=DeviceGrant.AUTHORIZED,
            user=user,
            tenant=tenant,
            scope=" ".join(scopes),
            acr=sign_in.acr,
            amr=sign_in.amr_text,
            auth_time=sign_in.auth_time,
        )
    )
