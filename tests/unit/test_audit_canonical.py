"""The canonical JSON `audit verify` gives decoded rows (no float in them): the same bytes as
`canonical_json`, and the same refusal where it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from labgate.compliance.audit import SEALED, sealed_fields
from labgate.compliance.canonical import canonical_json, canonical_json_floatless

FLOATLESS: list[Any] = [
    None,
    {},
    {"seq": 1, "at": "2026-11-25T10:00:00.000000Z", "before": None, "after": {"a": [1, {}]}},
    {"name": "Zürich", "emoji": "🧪", "sep": "\u2028", "ctl": '\u0000\x7f\n\t"\\'},
    {"Prüfer": "Ana", "ключ": 1, "𝄞": "clef", "\ue000": "private use", "b": "ascii"},
    {"big": 2**53 - 1, "small": -(2**53 - 1), "nested": {"deep": [[[True, False, None]]]}},
]


@pytest.mark.parametrize("data", FLOATLESS)
def test_floatless_data_gives_the_canonical_bytes(data: Any) -> None:
    assert canonical_json_floatless(data) == canonical_json(data)


@pytest.mark.parametrize("data", [{"big": 2**53}, {"huge": -(10**30)}, {"lone": "\ud800"}])
def test_what_canonical_json_refuses_is_refused_alike(data: Any) -> None:
    with pytest.raises(Exception) as expected:
        canonical_json(data)
    with pytest.raises(type(expected.value)):
        canonical_json_floatless(data)


def test_the_sealed_fields_are_named_once_in_the_order_rows_are_read() -> None:
    assert tuple(sealed_fields(*range(14))) == SEALED  # type: ignore[arg-type]
