"""Second factors as the tests use them: an enrolled authenticator app, and its codes computed from
the shared secret (RFC 6238), as the person's app would."""

from __future__ import annotations

import time
from base64 import b32decode

from django.test import Client
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import authn, factors
from accounts.models import User


def code_for_secret(b32_secret: str, *, offset: int = 0) -> str:
    """The code an authenticator app shows for the key the security page showed (`offset` steps on)."""
    return f"{totp(b32decode(b32_secret), step=30, t0=0, digits=6, drift=offset):06d}"


def code_of(device: TOTPDevice, *, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def acceptable_code(user: User) -> str:
    """A code the user's confirmed authenticator accepts now, whatever it accepted before.

    django-otp accepts a step within one of its clock (shifted by the drift it learned from the
    last code) and only after the last step it accepted. The first such step, and no earlier than
    its clock: still accepted if the step changes before the server checks it (its tolerance of
    one step), so a test never waits for a new code and never loses the race at a step boundary.
    """
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    while True:
        now = (int(time.time()) - device.t0) // device.step + device.drift
        step = max(device.last_t + 1, now)
        if step <= now + device.tolerance:
            break
        time.sleep(1)  # the next step is used already (two codes in one step): the window moves on
    code = TOTP(device.bin_key, device.step, device.t0, device.digits)
    code.time = device.t0 + step * device.step
    return f"{code.token():06d}"


def next_code(device: TOTPDevice) -> str:
    """A code the device has not accepted yet (each is accepted once): this step's, or the next's
    (the tolerance of one step)."""
    device.refresh_from_db()
    current = int(time.time()) // device.step
    return code_of(device, offset=1 if device.last_t >= current else 0)


def enrolled(user: User) -> tuple[TOTPDevice, list[str]]:
    """An authenticator app confirmed for `user` (through the services), with its recovery codes."""
    device = factors.totp_start(user=user, sign_in=authn.NO_SIGN_IN)
    done = factors.totp_confirm(user=user, device_id=device.pk, code=code_of(device))
    device.refresh_from_db()
    return device, done.recovery_codes


def password_step(user: User, password: str = "pw") -> Client:
    """A browser that typed the right password (a person with a factor is now asked for it)."""
    client = Client()
    client.post("/account/login/", {"username": user.username, "password": password})
    return client
