"""The conformance kit's cases against the partner webhook in-process (the simulators' receiver,
through Starlette's test client): a conforming receiver passes every case; each --broken mode
fails exactly its case; a partner that keeps no record is judged on its answers, and says so."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.receiving import LAPSES, ReceiverRules
from labgate.adapters.connectors.partner.webhook import Webhook
from labgate.compliance.envelope import Envelope
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import Signer
from labgate.service.conformance.cases import Answer, Kind, Play
from labgate.service.conformance.examples import LIMS_TYPES, MES_TYPES, PARTNER_TYPES, example
from labgate.service.messages import OUTBOUND

LABGATE = Signer.generate("labgate-1")
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
KEY = SourceKey("labgate", LABGATE.kid, LABGATE.public_jwk, SINCE, "test", SINCE)
WINDOW = timedelta(seconds=300)
BROKEN = {
    "accept-bad-signature": Kind.BAD_SIGNATURE,
    "accept-unknown-key": Kind.UNKNOWN_KEY,
    "apply-duplicates": Kind.DUPLICATE,
    "apply-out-of-order": Kind.OUT_OF_ORDER,
    "accept-schema-drift": Kind.SCHEMA_DRIFT,
    "accept-stale": Kind.REPLAY_WINDOW,
}


class InProcess:
    """The Partner port over a Starlette test client; `record` False hides the evidence."""

    def __init__(self, webhook: Webhook, record: bool = True) -> None:
        self.client, self.record = TestClient(webhook.app()), record

    def post(
        self, body: bytes, message_id: str, headers: Mapping[str, str] | None = None
    ) -> Answer:
        start = time.perf_counter()
        sent = {**(headers or {}), "Idempotency-Key": message_id}
        answer = self.client.post("/", content=body, headers=sent)
        elapsed = round((time.perf_counter() - start) * 1000, 1)
        return Answer(answer.status_code, answer.text, "2026-01-01T00:00:00.000000Z", elapsed)

    def applied(self, stream: str) -> list[str] | None:
        if not self.record:
            return None
        found = self.client.get("/_conformance/applied", params={"stream": stream}).json()
        return [entry["message_id"] for entry in found["applied"].get(stream, [])]


def webhook(*lapses: str) -> tuple[Webhook, list[str]]:
    applied: list[str] = []

    async def handle(envelope: Envelope, received_at: datetime) -> None:
        applied.append(envelope.message_id)

    rules = ReceiverRules(WINDOW, OUTBOUND, True, frozenset(lapses))
    return Webhook(KEY, handle, Journal(None), rules=rules), applied


def play(partner: InProcess, schemas: tuple[str, ...]) -> list[tuple[str, Kind, list[str]]]:
    outcomes = Play(partner, LABGATE, "PLT1", WINDOW, lambda: datetime.now(UTC)).run(schemas)
    return [(o.schema, o.kind, o.problems) for o in outcomes]


def test_every_outbound_type_has_a_partner_and_a_well_formed_example() -> None:
    assert set(MES_TYPES) | set(LIMS_TYPES) == set(OUTBOUND)
    for schema in {s for schemas in PARTNER_TYPES.values() for s in schemas}:
        OUTBOUND[schema].model_validate(example(schema, "PLT1"))


@pytest.mark.requirement("URS-TX-010", category="positive")
def test_a_conforming_receiver_passes_every_case_and_applies_in_order() -> None:
    hook, applied = webhook()
    outcomes = play(InProcess(hook), ("labgate.mes_result.v1", "labgate.sample_cancelled.v1"))
    assert [(s, k) for s, k, problems in outcomes if problems] == []
    assert len(outcomes) == 2 * len(Kind)
    assert len(applied) == len(set(applied)) == 2 * 3  # valid, the missing one, the held one


@pytest.mark.requirement("URS-A11-5", category="negative")
@pytest.mark.parametrize("lapse", sorted(LAPSES))
def test_each_broken_mode_fails_exactly_its_case(lapse: str) -> None:
    hook, _ = webhook(lapse)
    outcomes = play(InProcess(hook), ("labgate.batch_hold.v1",))
    assert [k for _, k, problems in outcomes if problems] == [BROKEN[lapse]]


def test_a_partner_without_a_record_is_judged_on_its_answers_and_the_report_says_so() -> None:
    hook, _ = webhook("apply-duplicates")
    partner = InProcess(hook, record=False)
    outcomes = Play(partner, LABGATE, "PLT1", WINDOW, lambda: datetime.now(UTC)).run(
        ("labgate.lot_status.v1",)
    )
    assert all(o.passed for o in outcomes)  # a duplicate applied twice cannot be seen
    assert {o.checked for o in outcomes} == {
        "the answers only: the partner offers no record of what it applied"
    }


def test_an_unknown_broken_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown broken mode 'accept-everything'"):
        ReceiverRules(lapses=frozenset({"accept-everything"}))
