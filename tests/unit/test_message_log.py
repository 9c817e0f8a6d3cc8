"""The workers' one line per message: what the bytes say of it and what became of it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from labgate.adapters.channels.message_log import log_message
from labgate.adapters.codecs.filepack import DataFile, build_pack
from labgate.compliance.envelope import build_envelope, encode, generate_keypair
from labgate.domain.errors import InvalidInput
from labgate.service.inbox.admission import Receipt, ReceiptRefused

SENT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PRIVATE, _ = generate_keypair()


def line(caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    [record] = [r for r in caplog.records if r.name == "labgate.messages"]
    assert record.levelno == logging.INFO
    parsed: dict[str, object] = json.loads(record.getMessage())
    return parsed


def test_an_applied_envelope_is_one_line_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labgate.messages")
    document = build_envelope("labgate.result.v1", "T1", "lims", "r", 7, {}, kid="k",
                              private_jwk=PRIVATE, sent_at=SENT, correlation_id="c-1")  # fmt: skip
    raw = encode(document)
    log_message("amqp", raw, Receipt("applied", "id", None))
    got = line(caplog)
    assert {k: got[k] for k in ("channel", "correlation_id", "source", "stream", "sequence")} == {
        "channel": "amqp", "correlation_id": "c-1", "source": "lims", "stream": "r", "sequence": 7
    }  # fmt: skip
    assert got["outcome"] == "applied"


def test_a_pack_is_named_by_its_manifest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labgate.messages")
    name, raw = build_pack([DataFile("r.csv", b"a\r\n1\r\n", 1)], site="T1", source="lims",
                           stream="results", sequence=3, kid="k", private_jwk=PRIVATE,
                           sent_at=SENT)  # fmt: skip
    refusal = ReceiptRefused(
        InvalidInput("bad", reason="pack.record_count", field="r.csv"), 9, True
    )
    log_message("dir", raw, refusal, pack=name)
    got = line(caplog)
    assert (got["source"], got["stream"], got["sequence"], got["pack"]) == (
        "lims", "results", 3, name,
    )  # fmt: skip
    assert (got["outcome"], got["reason"], got["quarantine_id"], got["sequence_number"]) == (
        "quarantined", "pack.record_count", 9, "used",
    )  # fmt: skip


def test_unreadable_bytes_still_get_their_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labgate.messages")
    refusal = ReceiptRefused(InvalidInput("no", reason="envelope.malformed"), 4)
    log_message("mqtt", b"\\xff not json", refusal)
    got = line(caplog)
    assert (got["source"], got["sequence"], got["outcome"], got["sequence_number"]) == (
        None, None, "quarantined", "free",
    )  # fmt: skip
