"""Sign-in strength (docs/security.md, "Sign-in levels and step-up"): how and when a person signed in.

A sign-in is a level (`acr`), the methods used (`amr`, RFC 8176's names) and the time of the last
authentication (`auth_time`). The session holds the current one (written by the sign-in and
step-up pages); codes and tokens copy it when they are issued, and a refresh copies it from the
refresh token, so a refresh never raises it. A scope may require a level and a maximum age
(`Requirement`); `shortfall` is the one rule that says whether a sign-in meets one.

Pure apart from the two session helpers: no database here, so the API's decision, the consent page
and the sign-in pages all ask the same function.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The levels, weakest first. `acr` values are these names: short, stable, and what a client sends
# back in `acr_values` after RFC 9470's challenge.
PASSWORD = "password"  # a password (or a session from one)
MFA = "mfa"  # a password and a second factor (TOTP or a recovery code)
LEVELS = (PASSWORD, MFA)
LEVEL_CHOICES = [("", "any sign-in"), (MFA, "a second factor (mfa)")]

# RFC 8176 authentication method references.
AMR_PASSWORD = "pwd"
AMR_OTP = "otp"
AMR_MFA = "mfa"

SESSION_KEY = "signin"


def rank(acr: str | None) -> int:
    """A level's strength: 0 for none or an unknown name, then 1, 2... in `LEVELS` order."""
    return LEVELS.index(acr) + 1 if acr in LEVELS else 0


@dataclass(frozen=True)
class SignIn:
    """How and when a person signed in: what a session, a code and a token remember."""

    acr: str
    amr: tuple[str, ...]
    auth_time: datetime | None

    @classmethod
    def of(cls, acr: str | None, amr: str | Iterable[str] | None, auth_time: Any) -> SignIn:
        """From stored values (columns: "pwd otp" text; sessions: a list and a Unix time)."""
        methods = amr.split() if isinstance(amr, str) else list(amr or ())
        when: datetime | None
        if isinstance(auth_time, int | float):
            when = datetime.fromtimestamp(auth_time, tz=UTC)
        elif isinstance(auth_time, str) and auth_time:
            try:
                when = datetime.fromisoformat(auth_time)
            except ValueError:
                when = None
            else:
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
        elif isinstance(auth_time, datetime):
            when = auth_time if auth_time.tzinfo else auth_time.replace(tzinfo=UTC)
        else:
            when = None
        return cls(acr=acr or "", amr=tuple(methods), auth_time=when)

    @property
    def amr_text(self) -> str:
        return " ".join(self.amr)

    def describe(self, now: datetime) -> str:
        """In words, for refusals and the explain page ("a password, 2 hours ago")."""
        how = {MFA: "a second factor", PASSWORD: "a password"}.get(self.acr, "no recorded sign-in")
        if self.auth_time is None:
            return how
        return f"{how}, {_ago(int((now - self.auth_time).total_seconds()))}"


NO_SIGN_IN = SignIn(acr="", amr=(), auth_time=None)


@dataclass(frozen=True)
class Requirement:
    """What a scope (or a request) needs of the sign-in: a level, and at most this many seconds old."""

    acr: str = ""
    max_age: int | None = None

    @property
    def any(self) -> bool:
        return bool(self.acr) or self.max_age is not None

    def describe(self) -> str:
        level = "a sign-in with a second factor" if self.acr == MFA else "a sign-in"
        if self.max_age is None:
            return level
        return f"{level} within the last {_duration(self.max_age)}"


NONE = Requirement()


def strongest(requirements: Iterable[Requirement]) -> Requirement:
    """The one requirement that meets all of them: the highest level, the shortest maximum age."""
    acr, max_age = "", None
    for requirement in requirements:
        if rank(requirement.acr) > rank(acr):
            acr = requirement.acr
        if requirement.max_age is not None and (max_age is None or requirement.max_age < max_age):
            max_age = requirement.max_age
    return Requirement(acr=acr, max_age=max_age)


def shortfall(sign_in: SignIn | None, requirement: Requirement, *, now: datetime) -> Requirement | None:
    """What `sign_in` lacks for `requirement` (None: it meets it). The answer is the requirement
    itself, which is what the user must do again (RFC 9470's `acr_values` and `max_age`)."""
    if not requirement.any:
        return None
    sign_in = sign_in or NO_SIGN_IN
    if rank(sign_in.acr) < rank(requirement.acr):
        return requirement
    if requirement.max_age is None:
        return None
    too_old = sign_in.auth_time is None or (now - sign_in.auth_time).total_seconds() > requirement.max_age
    return requirement if too_old else None


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        n, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0 and seconds >= 60:
        n, unit = seconds // 60, "minute"
    else:
        n, unit = seconds, "second"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _ago(seconds: int) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{_duration(seconds // 60 * 60)} ago"
    return f"{_duration(seconds // 3600 * 3600)} ago"


# --- The session's record (the sign-in and step-up pages write it; the consent page reads it).


def record(session: Any, *, acr: str, amr: Iterable[str]) -> SignIn:
    """Remember in the session that its user authenticated now, at `acr` with `amr`."""
    now = int(time.time())
    session[SESSION_KEY] = {"acr": acr, "amr": list(amr), "auth_time": now}
    return SignIn.of(acr, list(amr), now)


def of_session(session: Any) -> SignIn:
    """The session's sign-in (none recorded: a session from before levels existed, the weakest)."""
    value = session.get(SESSION_KEY)
    if not isinstance(value, dict):
        return NO_SIGN_IN
    return SignIn.of(str(value.get("acr") or ""), value.get("amr") or (), value.get("auth_time"))
