"""The console's pure parts: CSRF tokens bound to one cookie and one purpose, keyset cursors
bound to one sort, numbers shown as stored, and the idle rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from labgate.domain.errors import Forbidden, InvalidInput
from labgate.entrypoints.web import csrf, keyset
from labgate.entrypoints.web.render import exact
from labgate.entrypoints.web.sessions import ConsoleSession, token_hash

SECRET = "s" * 32


def test_a_csrf_token_belongs_to_one_cookie_and_one_purpose() -> None:
    token = csrf.token_for(SECRET, "cookie-a", "session")
    csrf.check(SECRET, "cookie-a", "session", token)
    for cookie, purpose in (("cookie-b", "session"), ("cookie-a", "pre")):
        with pytest.raises(Forbidden) as refused:
            csrf.check(SECRET, cookie, purpose, token)
        assert refused.value.reason == "console.csrf_invalid"
    assert csrf.token_for("t" * 32, "cookie-a", "session") != token  # the server's secret


@pytest.mark.parametrize("sent", [None, "", 42])
def test_a_form_without_its_token_is_refused(sent: object) -> None:
    with pytest.raises(Forbidden) as refused:
        csrf.check(SECRET, "cookie-a", "session", sent)
    assert (refused.value.reason, refused.value.field) == ("console.csrf_missing", "csrf_token")


def test_no_cookie_no_token_matches() -> None:
    with pytest.raises(Forbidden) as refused:
        csrf.check(SECRET, None, "pre", csrf.token_for(SECRET, "", "pre"))
    assert refused.value.reason == "console.csrf_invalid"


def test_a_cursor_continues_only_its_own_sort() -> None:
    cursor = keyset.encode("test", "ASSAY", 41)
    assert keyset.decode("test", cursor) == ("ASSAY", 41)
    assert keyset.decode("test", None) is None
    for sort, forged in (("batch", cursor), ("test", "bm90LWEtY3Vyc29y"), ("test", "!!")):
        with pytest.raises(InvalidInput) as refused:
            keyset.decode(sort, forged)
        assert refused.value.reason == "page.cursor_invalid"


def test_numbers_are_shown_as_stored_and_a_float_is_refused() -> None:
    assert exact(Decimal("0.310")) == "0.310"
    assert exact(Decimal("1E+2")) == "1E+2"  # as stored, not re-formatted
    assert exact("White tablet") == "White tablet"
    assert exact(None) == ""
    with pytest.raises(TypeError):
        exact(0.1)


def test_a_session_is_idle_only_past_the_limit() -> None:
    seen = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    session = ConsoleSession(token_hash("x"), "reviewer", seen, seen)
    limit = timedelta(minutes=15)
    assert not session.idle(seen + limit, limit)
    assert session.idle(seen + limit + timedelta(seconds=1), limit)
    assert token_hash("x") != "x" and len(token_hash("x")) == 64


def test_every_reason_a_session_ends_fits_its_column() -> None:
    from labgate.adapters.store.tables import console_sessions
    from labgate.entrypoints.web import sessions

    width = console_sessions.c.ended_why.type.length
    whys = (sessions.SIGNED_OUT, sessions.IDLE, sessions.ACCOUNT_CLOSED, sessions.REPLACED)
    assert all(len(why) <= width for why in whys)
