"""The simulators' fault modes, as the pure functions they are: what each does to a stream of
signed messages, that rates 0 and 1 mean never and always, and that a seed repeats a run; and
the values the simulated LIMS draws, in or out of specification as intended."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from labgate.adapters.codecs.filepack import decode_pack
from labgate.adapters.connectors.partner.identity import Identity, Sequences
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.compliance.envelope import (
    EnvelopeError,
    build_envelope,
    parse_envelope,
    verify_envelope,
)
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import Signer
from labgate.domain.errors import InvalidInput
from labgate.domain.limits import LimitRule, evaluate, parse_limit
from labgate.domain.numbers import RoundingPolicy, RoundingRule
from labgate.service.messages import parse_payload
from labgate_sim import faults as f
from labgate_sim.lims import draw_value

SIGNER = Signer.generate("lims-sim-1")
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
KEY = SourceKey("lims", SIGNER.kid, SIGNER.public_jwk, SINCE, "test", SINCE)
SENT_AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RESULT = "labgate.result.v1"


def result(sample: str, test: str = "ASSAY", unit: str | None = "%") -> dict[str, object]:
    return {
        "sample": sample,
        "test_code": test,
        "value": "99.5" if unit else "White tablet",
        "unit": unit,
        "method_version": "1",
        "analyst": "lims-analyst",
        "lims_status": "approved",
        "reviewer": "lims-reviewer",
        "approved_at": "2026-11-25T08:59:00Z",
    }


def stream(count: int = 8) -> list[Outgoing]:
    """`count` signed results, sequences 1..count, alternating a % test and a text test."""
    items = []
    for n in range(1, count + 1):
        payload = result(f"S-{n:06d}", *(("ASSAY", "%") if n % 2 else ("APPEAR", None)))
        document = build_envelope(
            RESULT, "T1", "lims", "lims-sim", n, payload,
            kid=SIGNER.kid, private_jwk=SIGNER.private_jwk, sent_at=SENT_AT,
        )  # fmt: skip
        items.append(Outgoing(document))
    return items


def verify(item: Outgoing) -> None:
    verify_envelope(parse_envelope(item.wire()), KEY)


def ids(items: list[Outgoing]) -> list[str]:
    return [item.message_id for item in items]


def rng() -> random.Random:
    return random.Random(7)


def test_bad_signature_fails_verification_and_the_original_follows() -> None:
    items = stream(4)
    out = f.bad_signature(items, 1, rng())
    assert ids(out) == [i for i in ids(items) for _ in (1, 2)]  # copy, then the original
    for damaged, original in zip(out[::2], out[1::2], strict=True):
        assert damaged.damaged and damaged.faults == ("bad_signature",)
        with pytest.raises(EnvelopeError) as refused:
            verify(damaged)  # the bytes still parse: only the signature is wrong
        assert refused.value.reason == "envelope.bad_signature"
        assert damaged.document["payload"] != original.document["payload"]
        verify(original)


def test_bad_signature_without_resend_replaces_the_message() -> None:
    out = f.bad_signature(stream(4), 1, rng(), resend=False)
    assert len(out) == 4
    assert all(item.damaged for item in out)


def test_unknown_field_verifies_but_breaks_the_payload_schema() -> None:
    [original] = stream(1)
    damaged, again = f.unknown_field([original], 1, rng(), SIGNER)
    verify(damaged)
    verify(again)
    assert damaged.document["payload"]["lims_comment"]
    # Taken in and refused for its content, the drifted copy used its number: the content
    # follows as a new message, under a new UUIDv7 and the next number.
    assert (damaged.message_id, damaged.sequence) == (original.message_id, 1)
    assert again.message_id != damaged.message_id and again.sequence == 2
    assert parse_envelope(again.wire()).message_id == again.message_id  # a valid UUIDv7
    assert again.document["payload"] == original.document["payload"]
    with pytest.raises(InvalidInput) as refused:
        parse_payload(RESULT, damaged.document["payload"])
    assert refused.value.reason == "envelope.schema_violation"
    assert refused.value.field == "payload.lims_comment"


def test_changed_unit_relabels_only_percent_results_and_signs_them() -> None:
    out = f.changed_unit(stream(4), 1, rng(), SIGNER)
    assert [i.document["payload"]["unit"] for i in out] == ["mg/g", None, "mg/g", None]
    assert [i.faults for i in out] == [("changed_unit",), (), ("changed_unit",), ()]
    assert {i.document["payload"]["value"] for i in out[::2]} == {"99.5"}
    for item in out:
        verify(item)
        assert not item.damaged  # labgate cannot tell: it converts what it was told


def test_changed_unit_in_a_pack_keeps_the_manifest_true() -> None:
    identity = Identity("lims", SIGNER, Sequences())
    rows = [result("S-1"), result("S-1", "APPEAR", None)]
    [changed] = f.changed_unit([identity.pack("T1", "results", rows)], 1, rng(), SIGNER)
    pack = decode_pack(changed.wire())
    verify_envelope(pack.envelope, KEY)
    assert [r.unit for r in pack.records()] == ["mg/g", None]


def test_a_pack_with_a_bad_signature_is_still_a_readable_pack() -> None:
    identity = Identity("lims", SIGNER, Sequences())
    damaged, original = f.bad_signature([identity.pack("T1", "results", [result("S-1")])], 1, rng())
    assert damaged.name() == original.name()
    with pytest.raises(EnvelopeError):
        verify_envelope(decode_pack(damaged.wire()).envelope, KEY)
    verify_envelope(decode_pack(original.wire()).envelope, KEY)


def test_clock_skew_moves_sent_at_and_signs_it() -> None:
    damaged, original = f.clock_skew(stream(1), 1, rng(), SIGNER, seconds=-900)
    verify(damaged)
    moved = parse_envelope(damaged.wire()).sent_at - parse_envelope(original.wire()).sent_at
    assert moved == timedelta(seconds=-900)


def test_reorder_keeps_every_message_exactly_once() -> None:
    items = stream(9)
    out = f.reorder(items, 0.5, rng())
    assert Counter(ids(out)) == Counter(ids(items))
    assert ids(out) != ids(items)
    every = f.reorder(items, 1, rng())
    assert [i.sequence for i in every] == [2, 1, 4, 3, 6, 5, 8, 7, 9]
    assert all(i.faults == ("reorder",) for i in every[:8])


def test_reorder_never_moves_a_damaged_copy_behind_its_original() -> None:
    out = f.reorder(f.bad_signature(stream(3), 1, rng()), 1, rng())
    assert [(i.sequence, i.damaged) for i in out] == [
        (1, True), (1, False), (2, True), (2, False), (3, True), (3, False)
    ]  # fmt: skip


def test_duplicate_sends_a_byte_identical_copy_after_the_original() -> None:
    items = stream(6)
    out = f.duplicate(items, 1, rng())
    assert Counter(ids(out)) == Counter({i: 2 for i in ids(items)})
    for item in items:
        first, second = (n for n, o in enumerate(out) if o.message_id == item.message_id)
        assert out[first].faults == () and out[second].faults == ("duplicate",)
        assert out[first].wire() == out[second].wire()


def test_delay_marks_messages_late() -> None:
    out = f.delay(stream(3), 1, rng(), seconds=1.5)
    assert [(i.delay, i.faults) for i in out] == [(1.5, ("delay",))] * 3


ALL = {
    "duplicate": lambda items, rate: f.duplicate(items, rate, rng()),
    "reorder": lambda items, rate: f.reorder(items, rate, rng()),
    "delay": lambda items, rate: f.delay(items, rate, rng()),
    "bad_signature": lambda items, rate: f.bad_signature(items, rate, rng()),
    "unknown_field": lambda items, rate: f.unknown_field(items, rate, rng(), SIGNER),
    "changed_unit": lambda items, rate: f.changed_unit(items, rate, rng(), SIGNER),
    "clock_skew": lambda items, rate: f.clock_skew(items, rate, rng(), SIGNER),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_rate_zero_changes_nothing_and_rate_one_hits_every_eligible_message(name: str) -> None:
    items = stream(6)
    assert ALL[name](items, 0) == items
    hit = [i for i in ALL[name](items, 1) if name in i.faults]
    eligible = 3 if name == "changed_unit" else 6  # only the % results have a unit to change
    assert len(hit) == eligible


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_a_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="chance from 0 to 1"):
        f.duplicate(stream(2), rate, rng())


def test_a_seeded_plan_repeats_byte_for_byte() -> None:
    rates = {"duplicate": 0.3, "reorder": 0.3, "bad_signature": 0.2, "unknown_field": 0.2}
    items = stream(12)

    def run(seed: int) -> list[bytes]:
        plan = f.FaultPlan(rates, seed)
        return [
            item.wire() for batch in (items[:6], items[6:]) for item in plan.apply(batch, SIGNER)
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_a_plan_keeps_damaged_copies_just_before_their_originals() -> None:
    rates = dict.fromkeys(("duplicate", "reorder", "bad_signature", "unknown_field"), 0.5)
    items = stream(20)
    out = f.FaultPlan(rates, 3).apply(items, SIGNER)
    assert any(i.damaged for i in out)
    for n, item in enumerate(out):
        if item.damaged and item.faults[-1] != "unknown_field":  # no number used: the original
            assert out[n + 1].message_id == item.message_id  # (or another damaged copy) follows
        elif item.damaged:  # its number used: the content follows under a new id and number
            follow = next(i for i in out[n + 1 :] if not i.damaged)
            sent = dict(item.document["payload"])
            del sent["lims_comment"]
            assert follow.document["payload"] == sent
            assert follow.sequence > max(i.sequence for i in items)
    drifted = {i.message_id for i in out if i.damaged and i.faults[-1] == "unknown_field"}
    intact = set(ids([i for i in out if not i.damaged and i.sequence <= len(items)]))
    assert intact | drifted == set(ids(items))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("duplicate=0.1", ("duplicate", 0.1)), ("bad-signature=1", ("bad_signature", 1.0)),
     ("reorder", ("reorder", 1.0))],
)  # fmt: skip
def test_faults_are_named_on_the_command_line(text: str, parsed: tuple[str, float]) -> None:
    assert f.parse_fault(text) == parsed


@pytest.mark.parametrize("text", ["typo=0.1", "duplicate=x", "duplicate=2"])
def test_a_bad_fault_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match=r"[Ff]ault|rate"):
        f.parse_fault(text)


# ---- the values the simulated LIMS reports: judged by labgate's own evaluation --------------

LIMITS = [
    ("97.0-103.0", RoundingRule.USP, None),
    ("90.0-110.0", RoundingRule.USP, 3),  # blend uniformity: 3 significant figures
    ("NMT 2.0", RoundingRule.ASTM_E29, None),
    ("NMT 0.10", RoundingRule.USP, None),
    ("NLT 80", RoundingRule.USP, None),
    ("= 7.0", RoundingRule.USP, None),
    ("CONFORMS: White, round, biconvex tablet", RoundingRule.ABSOLUTE, None),
]


@pytest.mark.parametrize(("limit", "rule", "sig_figs"), LIMITS)
def test_drawn_values_are_in_or_out_of_spec_as_drawn(
    limit: str, rule: RoundingRule, sig_figs: int | None
) -> None:
    rule_of_limit = LimitRule("T", parse_limit(limit))
    policy = RoundingPolicy(rule, sig_figs)
    for seed in range(200):
        for oos in (False, True):
            value = draw_value(limit, oos, random.Random(seed), sig_figs)
            assert evaluate(value, rule_of_limit, policy).conforms is not oos, (seed, value)
