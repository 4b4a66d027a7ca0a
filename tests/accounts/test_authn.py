"""The sign-in level rule (accounts.authn): pure, so every caller gets the same answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounts import authn
from accounts.authn import MFA, PASSWORD, Requirement, SignIn, shortfall, strongest

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def signed(acr: str, minutes_ago: int | None) -> SignIn:
    return SignIn(
        acr=acr, amr=(), auth_time=None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    )


def test_no_requirement_is_met_by_anything():
    assert shortfall(None, authn.NONE, now=NOW) is None
    assert shortfall(signed("", None), authn.NONE, now=NOW) is None


def test_the_level_must_be_at_least_the_required_one():
    need = Requirement(acr=MFA)
    assert shortfall(signed(PASSWORD, 0), need, now=NOW) == need
    assert shortfall(signed("unknown-level", 0), need, now=NOW) == need
    assert shortfall(None, need, now=NOW) == need
    assert shortfall(signed(MFA, 600), need, now=NOW) is None


def test_the_age_is_counted_from_the_last_authentication():
    need = Requirement(acr=MFA, max_age=600)
    assert shortfall(signed(MFA, 10), need, now=NOW) is None
    assert shortfall(signed(MFA, 11), need, now=NOW) == need
    assert shortfall(signed(MFA, None), need, now=NOW) == need
    assert shortfall(signed(PASSWORD, 0), Requirement(max_age=60), now=NOW) is None


def test_strongest_takes_the_highest_level_and_the_shortest_age():
    assert strongest(
        [Requirement(max_age=900), Requirement(acr=MFA, max_age=600), authn.NONE]
    ) == Requirement(acr=MFA, max_age=600)
    assert strongest([]) == authn.NONE


def test_stored_values_read_back():
    assert SignIn.of("mfa", "pwd otp", 1_700_000_000).auth_time == datetime.fromtimestamp(
        1_700_000_000, tz=UTC
    )
    assert SignIn.of(None, None, None) == authn.NO_SIGN_IN
    assert SignIn.of("password", ["pwd"], "2026-01-01T00:00:00").auth_time == datetime(2026, 1, 1, tzinfo=UTC)


def test_sessions_record_and_read_the_sign_in():
    session: dict = {}
    assert authn.of_session(session) == authn.NO_SIGN_IN
    authn.record(session, acr=MFA, amr=["pwd", "otp"])
    assert authn.of_session(session).acr == MFA and authn.of_session(session).amr == ("pwd", "otp")
    session[authn.SESSION_KEY] = "tampered"
    assert authn.of_session(session) == authn.NO_SIGN_IN
