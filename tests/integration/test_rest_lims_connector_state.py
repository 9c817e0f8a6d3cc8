"""The REST LIMS connector's core against a LIMS answering through httpx's MockTransport and a
channel that records what it was given, with its state in a real file: order, what stays owed,
what a restart keeps, and that nothing becomes a second message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from labgate.adapters.connectors.partner.dispatch import Outcome
from labgate.adapters.connectors.partner.identity import now
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.outgoing import Outgoing
from labgate.adapters.connectors.rest_lims import RestLimsApi, RestLimsConnector
from labgate.adapters.connectors.rest_lims_mapping import parse_mapping
from labgate.adapters.connectors.state import ConnectorState
from labgate.compliance.envelope import build_envelope, encode, parse_envelope
from labgate.compliance.signer import Signer

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "rest-lims-mapping.yaml"
MAPPING = parse_mapping(EXAMPLE.read_text())
LABGATE = Signer.generate("labgate-1")


@dataclass
class FakeLabgate:
    """A channel into labgate that answers as told and records every envelope."""

    answers: list[Outcome] = field(default_factory=list)  # then "applied"
    got: list[dict[str, Any]] = field(default_factory=list)
    name: str = "fake"

    async def send(self, item: Outgoing) -> Outcome:
        self.got.append(item.document)
        return self.answers.pop(0) if self.answers else Outcome("applied")

    async def close(self) -> None:
        pass


@dataclass
class Lims:
    """The LIMS's answers: registrations numbered, results as the test puts them."""

    results: list[dict[str, Any]] = field(default_factory=list)
    registered: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.registered.append(json.loads(request.content))
            return httpx.Response(201, json={"Sample": {"Id": f"LW-{len(self.registered)}"}})
        after = int(request.url.params.get("after", "0"))
        page = [r for r in self.results if int(r["Seq"]) > after]
        last = max([after, *(int(r["Seq"]) for r in page)])
        return httpx.Response(200, content=f'{{"Results": {json.dumps(page)}, "Last": {last}}}')


def connector(path: Path, lims: Lims, channel: FakeLabgate) -> RestLimsConnector:
    client = httpx.AsyncClient(base_url="http://lims", transport=httpx.MockTransport(lims.handler))
    state = ConnectorState.load(path, MAPPING.results.initial_cursor)
    signer = Signer.generate("lims-1")
    return RestLimsConnector(MAPPING, RestLimsApi(MAPPING, client), state, channel, signer,
                             Journal(None))  # fmt: skip


def request(sample: str = "S-1") -> Any:
    test = {"test_code": "ASSAY", "method": "HPLC", "method_version": "1"}
    payload = {"site": "PLT1", "sample_id": sample, "mes_request_id": "M-1", "tests": [test]}
    document = build_envelope("labgate.lims_sample_request.v1", "PLT1", "labgate", "lims", 1,
                              payload, kid=LABGATE.kid, private_jwk=LABGATE.private_jwk,
                              sent_at=now(), correlation_id="trace-1")  # fmt: skip
    return parse_envelope(encode(document))


def record(seq: int, **changes: Any) -> dict[str, Any]:
    return {"ResultId": f"RR-{seq}", "Seq": seq, "SampleId": "LW-1", "Analysis": "ASSAY",
            "Value": "99.1", "Units": "%", "MethodVersion": "1", "EnteredBy": "jdoe",
            "Status": "P", "ApprovedBy": None, "ApprovedOn": None, **changes}  # fmt: skip


def run(step: Callable[[], Any]) -> Any:
    async def main() -> Any:
        return await step()

    return asyncio.run(main())


def test_registration_then_results_leave_in_sequence_on_one_stream(tmp_path: Path) -> None:
    lims, labgate = Lims(), FakeLabgate()
    core = connector(tmp_path / "state.json", lims, labgate)
    run(lambda: core.handle(request(), now()))
    lims.results = [record(1), record(2, Analysis="WATER")]
    run(core.poll)
    assert run(core.deliver) is True
    assert [(d["schema"], d["sequence"], d["stream"]) for d in labgate.got] == [
        ("labgate.sample_registration.v1", 1, "rest-lims"),
        ("labgate.result.v1", 2, "rest-lims"),
        ("labgate.result.v1", 3, "rest-lims"),
    ]
    assert labgate.got[0]["payload"] == {"sample": "S-1", "lims_sample_id": "LW-1"}
    assert labgate.got[1]["payload"]["sample"] == "S-1"  # the LIMS id turned back
    assert labgate.got[1]["payload"]["value"] == "99.1"
    assert {d["correlation_id"] for d in labgate.got} == {"trace-1"}


def test_a_request_sent_again_is_not_registered_twice(tmp_path: Path) -> None:
    lims, labgate = Lims(), FakeLabgate()
    run(lambda: connector(tmp_path / "s.json", lims, labgate).handle(request(), now()))
    again = connector(tmp_path / "s.json", lims, labgate)  # after a restart, too
    run(lambda: again.handle(request(), now()))
    assert len(lims.registered) == 1 and len(again.state.owed) == 1


@pytest.mark.parametrize(
    "answer",
    [
        Outcome("failed", "rest.unreachable"),
        Outcome("refused", "auth.bad_key"),
        # Quarantined, but before the inbox (a key not yet registered): the number is free.
        Outcome("refused", "envelope.unknown_key", "16", "free"),
    ],
)
def test_what_labgate_did_not_take_stays_owed_and_keeps_its_id(
    tmp_path: Path, answer: Outcome
) -> None:
    lims, labgate = Lims(results=[record(1)]), FakeLabgate(answers=[answer])
    core = connector(tmp_path / "state.json", lims, labgate)
    run(core.poll)
    assert run(core.deliver) is False
    restarted = connector(tmp_path / "state.json", lims, labgate)
    assert run(restarted.deliver) is True
    first, second = labgate.got
    assert (first["message_id"], first["sequence"]) == (second["message_id"], second["sequence"])
    assert restarted.state.owed == []


def test_a_refusal_labgate_quarantined_is_answered(tmp_path: Path) -> None:
    refused = Outcome("refused", "test.unknown", "17", "used")
    lims, labgate = Lims(results=[record(1), record(2)]), FakeLabgate(answers=[refused])
    core = connector(tmp_path / "state.json", lims, labgate)
    run(core.poll)
    assert run(core.deliver) is True
    assert [d["sequence"] for d in labgate.got] == [1, 2]


def test_records_served_again_make_no_second_message(tmp_path: Path) -> None:
    lims, labgate = Lims(results=[record(1), record(2)]), FakeLabgate()
    core = connector(tmp_path / "state.json", lims, labgate)
    run(core.poll)
    run(core.deliver)
    restarted = connector(tmp_path / "state.json", lims, labgate)
    restarted.state.cursor = "0"  # the LIMS serves everything again
    assert run(restarted.poll) is True
    assert restarted.state.owed == [] and restarted.state.next_sequence == 3
    assert run(restarted.poll) is False  # nothing new: the loop stops asking


def test_the_state_file_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    lims, labgate = Lims(results=[record(1)]), FakeLabgate()
    core = connector(path, lims, labgate)
    run(lambda: core.handle(request(), now()))
    run(core.poll)
    kept = ConnectorState.load(path, None)
    assert (kept.cursor, kept.next_sequence, len(kept.owed)) == ("1", 3, 2)
    assert kept.lims_id("PLT1", "S-1") == "LW-1"
    assert not path.with_name(path.name + ".part").exists()


def test_a_damaged_state_file_is_refused_not_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="restore it from its backup"):
        ConnectorState.load(path, None)
