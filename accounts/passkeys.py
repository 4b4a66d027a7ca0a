"""Passkeys (WebAuthn): register one on the security page, give it as the second factor.

Built on py_webauthn, which verifies each ceremony (the challenge, the origin, the relying party's
id, the signature, user verification). The challenge lives in the session for one ceremony and is
used once. A passkey counts as a second factor (accounts.factors.has_second_factor); adding one
when the person already has a factor, and removing one, need a recent second factor, as for
authenticator apps. The relying party is this site: its id is the host the browser used.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts import authn, factors
from accounts.constants import AuditAction
from accounts.models import Passkey, User

REGISTER_KEY = "passkey_registration"
AUTHENTICATE_KEY = "passkey_authentication"
AMR_PASSKEY = "hwk"  # RFC 8176: proof of possession of a hardware-secured key


def _rp_id(request: HttpRequest) -> str:
    return (
        request.get_host().rsplit(":", 1)[0] if not request.get_host().startswith("[") else request.get_host()
    )


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def registration_options(request: HttpRequest, user: User) -> str:
    """The options for `navigator.credentials.create`, as JSON; the challenge kept for one ceremony."""
    if factors.has_second_factor(user):
        factors.check_fresh(authn.of_session(request.session))
    options = generate_registration_options(
        rp_id=_rp_id(request),
        rp_name=settings.OTP_TOTP_ISSUER,
        user_name=user.get_username(),
        user_id=str(user.pk).encode(),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in user.passkeys.all()
        ],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )
    request.session[REGISTER_KEY] = bytes_to_base64url(options.challenge)
    return options_to_json(options)


@transaction.atomic
def register(request: HttpRequest, user: User, credential: Any, name: str) -> list[str]:
    """Verify and store a new passkey; returns new recovery codes when it is the first factor."""
    challenge = request.session.pop(REGISTER_KEY, None)
    if not challenge:
        raise factors.FactorError("Start again: that passkey set-up has expired.")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=_rp_id(request),
            expected_origin=_origin(request),
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, ValueError, TypeError, KeyError) as error:
        raise factors.FactorError("The passkey could not be verified.") from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.objects.filter(credential_id=credential_id).exists():
        raise factors.FactorError("That passkey is already registered.")
    passkey = Passkey.objects.create(
        user=user,
        name=(name.strip() or "Passkey")[:100],
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )
    factors.audit_change(
        user=user, action=AuditAction.FACTOR_ENROLLED, target=passkey, after={"kind": "passkey"}
    )
    return factors.first_recovery_codes(user)


def authentication_options(request: HttpRequest, user: User) -> str:
    """The options for `navigator.credentials.get` with the person's passkeys, as JSON."""
    options = generate_authentication_options(
        rp_id=_rp_id(request),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in user.passkeys.all()
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    request.session[AUTHENTICATE_KEY] = bytes_to_base64url(options.challenge)
    return options_to_json(options)


@transaction.atomic
def authenticate(request: HttpRequest, user: User, credential: Any) -> bool:
    """Whether `credential` is a fresh assertion by one of the person's passkeys (the challenge is used up)."""
    challenge = request.session.pop(AUTHENTICATE_KEY, None)
    raw_id = credential.get("rawId") or credential.get("id") if isinstance(credential, dict) else None
    if not challenge or not isinstance(raw_id, str):
        return False
    passkey = Passkey.objects.select_for_update().filter(user=user, credential_id=raw_id).first()
    if passkey is None:
        return False
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=_rp_id(request),
            expected_origin=_origin(request),
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError):
        return False
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = timezone.now()
    passkey.save(update_fields=["sign_count", "last_used_at"])
    return True


@transaction.atomic
def remove(*, actor: User, passkey_id: int, sign_in: authn.SignIn) -> None:
    """Remove a passkey; with the last factor go the recovery codes. Needs a recent second factor."""
    factors.check_fresh(sign_in)
    passkey = Passkey.objects.filter(user=actor, pk=passkey_id).first()
    if passkey is None:
        raise factors.FactorError("There is no such passkey on your account.")
    factors.audit_change(
        user=actor, action=AuditAction.FACTOR_REMOVED, target=passkey, before={"kind": "passkey"}
    )
    passkey.delete()
    factors.drop_recovery_codes_without_factor(actor)


def parse(body: bytes) -> dict[str, Any] | None:
    """A JSON object from a request body (at most 64 KiB), or None."""
    if len(body) > 65536:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
