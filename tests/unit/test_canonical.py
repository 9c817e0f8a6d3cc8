"""Canonical JSON is RFC 8785 byte for byte, whichever encoder produces it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import rfc8785

from labgate.compliance.canonical import (
    canonical_bytes,
    canonical_json,
    content_hash,
    to_jsonable,
)
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.numbers import RoundingRule

ALPHABET = 'aZ09 "\\/\b\f\n\r\t\x00\x1f\x7fé€\u2028\u2029\ufeff😀𝄞ÿ'


def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 7)
    if kind == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(8)))
    if kind == 1:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), rng.randrange(-(10**9), 10**9)])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        # Strings that look like numbers inside compact JSON must not fool the fast path.
        return rng.choice(
            [":1.5", ",2e3", "[12345678901234567", "\\u00e9", "a:b", '":1.5', "10:00:00.5"]
        )
    if kind == 5:
        return rng.choice([2**53, -(2**53), 10**17, 12345])
    if kind == 6:  # floats: ECMAScript number form (RFC 8785 3.2.2.3)
        return rng.choice([0.5, -1.25, 1e21, 1e-7, 123456789.125, 5e-324, 2.0**60, -0.0])
    if kind == 7:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["a", "B", "_", "seq", "z1", "Z", "aa", "before"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("seed", range(300))
def test_matches_rfc8785_byte_for_byte(seed: int) -> None:
    value = random_json(random.Random(seed))
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:  # an integer past 2**53: refused either way
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [{"ключ": "x", "a": 1}, {"𝄞": 1, "\ufb00": 2}, {"n": 2**60}, {"s": "\ud800"}],
    ids=["non-ascii keys", "utf-16 key order", "unsafe int", "lone surrogate"],
)
def test_values_outside_the_fast_path_still_follow_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


def test_domain_values_have_one_exact_form() -> None:
    record = {"value": Decimal("98.10"), "at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC)}
    assert to_jsonable(record) == {"value": "98.10", "at": "2026-11-25T10:00:00.000000Z"}
    assert content_hash(record) != content_hash({**record, "value": Decimal("98.1")})


def test_enums_become_their_plain_values() -> None:
    """A StrEnum is a str, but the record keeps its plain value (the fast encoder's input)."""
    value = to_jsonable({"status": ResultStatus.APPROVED, "rule": [RoundingRule.USP]})
    assert value == {"status": "approved", "rule": ["usp"]}
    assert type(value["status"]) is str and type(value["rule"][0]) is str
    assert canonical_bytes(value) == rfc8785.dumps(value)


@dataclass
class _Reading:
    at: datetime
    value: Decimal
    status: ResultStatus
    tags: tuple[str, ...]
    events: list[object] = field(default_factory=list)  # pending events: not the record


def test_records_of_each_type_keep_one_form_however_often_they_are_converted() -> None:
    """Each type's conversion is chosen once and reused; equal instants in any zone (or naive,
    taken as UTC) get one UTC text, and a type with no JSON form is refused every time."""
    later = datetime(2026, 11, 25, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    for at in (datetime(2026, 11, 25, 10, 0, tzinfo=UTC), later, datetime(2026, 11, 25, 10, 0)):
        reading = _Reading(at, Decimal("98.10"), ResultStatus.APPROVED, ("a", "b"), ["event"])
        for _ in range(2):
            assert to_jsonable([reading]) == [
                {"at": "2026-11-25T10:00:00.000000Z", "value": "98.10", "status": "approved",
                 "tags": ["a", "b"]}
            ]  # fmt: skip
    for refused in (1.5, {1, 2}, b"bytes"):
        for _ in range(2):
            with pytest.raises(TypeError, match="no canonical JSON form"):
                to_jsonable({"value": refused})


def test_utc_text_has_a_four_digit_year_before_the_year_1000() -> None:
    """Found by schemathesis: glibc's %Y wrote the year 362 as `362-…`, not RFC 3339."""
    from labgate.compliance.clock import iso_utc

    assert iso_utc(datetime(362, 10, 20, 6, 47, 27, tzinfo=UTC)) == "0362-10-20T06:47:27.000000Z"
    assert iso_utc(datetime(2026, 11, 25, 10, tzinfo=UTC)) == "2026-11-25T10:00:00.000000Z"
