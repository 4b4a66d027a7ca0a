"""User codes people can type (RFC 8628 6.1): eight consonants, shown as two groups of four.

Twenty letters with no vowels (no words, no 0/O or 1/I to confuse): 20^8, about 2^34.6 codes.
RFC 8628 5.1 counts on the verification page limiting guesses, which it does (scopes.device.views).
Whatever the user types is normalised: case, spaces and dashes do not matter.
"""

from __future__ import annotations

import secrets

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8


def new_user_code() -> str:
    letters = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{letters[:4]}-{letters[4:]}"


def normalise(typed: str) -> str | None:
    """The stored form of what the user typed (`bcdf ghjk` -> `BCDF-GHJK`); None if it cannot be one."""
    letters = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(letters) != LENGTH or any(ch not in ALPHABET for ch in letters):
        return None
    return f"{letters[:4]}-{letters[4:]}"
