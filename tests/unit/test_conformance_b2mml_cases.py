"""The conformance kit's B2MML cases against the partner webhook in-process, the simulated MES's
B2MML reader behind it: a conforming receiver passes every case of every type labgate writes as
B2MML; each --broken mode fails exactly its case; every document sent as valid is valid against
the V0701 XSD, and each negative one is what its case says."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from test_conformance_cases import BROKEN, KEY, LABGATE, WINDOW, InProcess

from labgate.adapters.codecs.b2mml import validate
from labgate.adapters.conformance.b2mml import B2mmlDocuments
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.receiving import LAPSES, ReceiverRules
from labgate.adapters.connectors.partner.webhook import Received, Webhook
from labgate.compliance.detached import verify_detached
from labgate.compliance.envelope import Envelope
from labgate.compliance.keys import SourceKey
from labgate.service.conformance.b2mml_cases import B2MML_EXPECTATIONS, B2mmlPlay
from labgate.service.conformance.cases import Kind, Outcome
from labgate.service.conformance.examples import MES_TYPES
from labgate.service.messages import OUTBOUND
from labgate_sim import b2mml_side

B2MML_TYPES = tuple(t for t in MES_TYPES if B2mmlDocuments().has_form(t))


class Reader:
    """The simulated MES's B2MML side, and what it took."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def read_document(
        self, body: bytes, headers: Mapping[str, str], key: SourceKey, rules: Any, at: datetime
    ) -> Received:
        return b2mml_side.read_document(body, headers, key, rules, at)

    async def take(self, message: Received, received_at: datetime) -> None:
        self.taken.append(message.message_id)


def b2mml_webhook(*lapses: str) -> tuple[Webhook, Reader]:
    async def handle(envelope: Envelope, received_at: datetime) -> None:
        raise AssertionError("a B2MML run sends documents only")

    reader = Reader()
    rules = ReceiverRules(WINDOW, OUTBOUND, True, frozenset(lapses))
    return Webhook(KEY, handle, Journal(None), reader, rules), reader


def run(hook: Webhook, schemas: tuple[str, ...]) -> list[Outcome]:
    play = B2mmlPlay(InProcess(hook), LABGATE, "PLT1", WINDOW, lambda: datetime.now(UTC),
                     documents=B2mmlDocuments())  # fmt: skip
    return play.run(schemas)


def test_the_b2mml_types_are_those_the_relay_writes_for_the_mes() -> None:
    assert B2MML_TYPES == (
        "labgate.lot_status.v1",
        "labgate.mes_result.v1",
        "labgate.result_status.v1",
        "labgate.sample_acknowledgement.v1",
    )


@pytest.mark.requirement("URS-A11-5", category="positive")
def test_a_conforming_b2mml_receiver_passes_every_case_and_takes_each_valid_document_once() -> None:
    hook, reader = b2mml_webhook()
    outcomes = run(hook, B2MML_TYPES)
    assert [(o.schema, o.kind, o.problems) for o in outcomes] == [
        (schema, kind, []) for schema in B2MML_TYPES for kind in Kind
    ]
    valid = [o.exchanges[0].envelope["message_id"] for o in outcomes if o.kind is Kind.VALID]
    assert all(reader.taken.count(message_id) == 1 for message_id in valid)
    for outcome in outcomes:
        assert outcome.as_json()["expectation"] == B2MML_EXPECTATIONS[outcome.kind]
        for exchange in outcome.exchanges:
            sent = exchange.as_json()["sent"]
            assert sent["headers"]["Content-Type"] == "application/xml"
            assert sent["headers"]["X-Labgate-Schema"] == outcome.schema
            assert f"<BODID>{exchange.envelope['message_id']}</BODID>" in sent["document"]


def test_each_document_is_what_its_case_says() -> None:
    hook, _ = b2mml_webhook()
    outcomes = {o.kind: o for o in run(hook, ("labgate.mes_result.v1",))}

    def sent(kind: Kind, index: int = 0) -> tuple[bytes, dict[str, str]]:
        evidence = outcomes[kind].exchanges[index].as_json()["sent"]
        return evidence["document"].encode(), evidence["headers"]

    body, headers = sent(Kind.VALID)
    assert validate(body) == []
    verify_detached(body, headers["X-Labgate-Signature"], LABGATE.public_jwk)
    assert sent(Kind.DUPLICATE) == (body, headers)  # the same bytes, the same key
    altered, signed = sent(Kind.BAD_SIGNATURE)
    assert validate(altered) == [] and b"S-CONF-0002" in altered  # only the signature tells
    with pytest.raises(Exception, match="does not match"):
        verify_detached(altered, signed["X-Labgate-Signature"], LABGATE.public_jwk)
    drifts = [sent(Kind.SCHEMA_DRIFT, i)[0] for i in range(2)]
    assert all(validate(document) for document in drifts)
    assert b"XUnannounced" in drifts[0] and b"<Process/>" not in drifts[1] and b"<Process/>" in body
    late, early = (sent(Kind.REPLAY_WINDOW, i)[0] for i in range(2))
    assert b"<CreationDateTime>" in late and late != early


@pytest.mark.requirement("URS-A11-5", category="negative")
@pytest.mark.parametrize("lapse", sorted(LAPSES))
def test_each_broken_mode_fails_exactly_its_b2mml_case(lapse: str) -> None:
    hook, _ = b2mml_webhook(lapse)
    outcomes = run(hook, ("labgate.result_status.v1",))
    assert [o.kind for o in outcomes if not o.passed] == [BROKEN[lapse]]


def test_a_document_the_writer_makes_invalid_is_never_sent_as_valid() -> None:
    class Invalid(B2mmlDocuments):
        def write(self, schema: str, payload: dict[str, Any], **frame: Any) -> bytes:
            return super().drifted(super().write(schema, payload, **frame))[0][1]

    hook, reader = b2mml_webhook()
    play = B2mmlPlay(InProcess(hook), LABGATE, "PLT1", WINDOW, lambda: datetime.now(UTC),
                     documents=Invalid())  # fmt: skip
    valid = next(iter(play.cases("labgate.lot_status.v1")))
    assert not valid.passed and "not sent" in valid.problems[0]
    assert valid.exchanges[0].answer.status == 0 and reader.taken == []
