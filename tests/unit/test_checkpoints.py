"""The trail checked against its head and signed checkpoints, in memory: each way a trail can
be cut, extended or re-sealed behind labgate's back, and each way a checkpoint can be forged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from labgate.compliance.audit import GENESIS_HASH, AuditDraft, AuditEntry, seal
from labgate.compliance.checkpoints import Head, sign_checkpoint, verify_trail
from labgate.compliance.signer import Signer

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
KEY = Signer.generate("labgate-1")


def chain(n: int, actor: str = "ana") -> list[AuditEntry]:
    entries, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        entry = seal(AuditDraft(actor, "person", "test.done", "test", f"R-{i}", AT), i, prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def head(entries: list[AuditEntry]) -> Head:
    return Head(entries[-1].seq, entries[-1].hash)


def test_an_intact_trail_counts_what_its_checkpoints_do_not_yet_cover() -> None:
    entries = chain(5)
    report = verify_trail(entries, head(entries), [sign_checkpoint(head(entries[:3]), AT, KEY)])
    assert (report.ok, report.checked, report.last_checkpoint, report.after_checkpoint) == (
        True,
        5,
        3,
        2,
    )
    assert not report.keys_pinned


def test_entries_past_the_head_or_a_replaced_newest_entry_are_refused() -> None:
    entries = chain(5)
    past = verify_trail(entries, head(entries[:4]), [])
    assert (past.reason, past.first_broken) == ("audit.head_mismatch", 5)
    replaced = verify_trail(chain(5, actor="intruder"), head(entries), [])
    assert (replaced.reason, replaced.first_broken) == ("audit.head_mismatch", 5)


@pytest.mark.requirement("URS-A11-7.1", category="negative")
def test_a_trail_resealed_whole_is_refused_by_its_checkpoint() -> None:
    original = chain(5)
    checkpoint = sign_checkpoint(head(original[:2]), AT, KEY)
    resealed = chain(5, actor="intruder")
    report = verify_trail(resealed, head(resealed), [checkpoint], [KEY.public_jwk])
    assert (report.reason, report.first_broken) == ("audit.resealed", 2)


def test_a_forged_or_foreign_checkpoint_is_refused() -> None:
    entries = chain(3)
    good = sign_checkpoint(head(entries), AT, KEY)
    forged = verify_trail(entries, head(entries), [replace(good, seq=2, hash=entries[1].hash)])
    assert forged.reason == "audit.checkpoint_forged"
    foreign = sign_checkpoint(head(entries), AT, Signer.generate("labgate-1"))
    refused = verify_trail(entries, head(entries), [foreign], [KEY.public_jwk])
    assert refused.reason == "audit.checkpoint_key_unknown"
    assert verify_trail(entries, head(entries), [good], [KEY.public_jwk]).keys_pinned
