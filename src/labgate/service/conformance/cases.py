"""The cases a conformance run plays for each message type labgate sends a partner, and how each
answer is judged. The partner is reached through a port (`Partner`), so this module decides and
the HTTP adapter only carries bytes.

What a conforming receiver does (README "Conformance kit", the ICD's delivery section): it
accepts a well-formed envelope signed with labgate's key (2xx) and applies it once; it answers a
message id it has applied with 2xx again and changes nothing; it never applies a message ahead
of a sequence gap on its stream — it holds it (202) until the gap fills, or refuses it (409) for
the sender to deliver again; it refuses (4xx) a signature that does not match, a key id it does
not know, a payload that drifts from its type's schema, and a sent_at outside its replay window.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from labgate.compliance.envelope import build_envelope, encode, generate_keypair
from labgate.compliance.signer import Signer
from labgate.service.conformance.examples import drifted, example

SOURCE = "labgate"  # the kit speaks as labgate's relay does
HELD, REFUSED_GAP = 202, 409


class Kind(StrEnum):
    """A case of a message type."""

    VALID = "valid"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    SCHEMA_DRIFT = "schema_drift"
    REPLAY_WINDOW = "replay_window"


EXPECTATIONS = {
    Kind.VALID: "accepted (2xx) and applied once",
    Kind.DUPLICATE: "the same message again: accepted (2xx), not applied a second time",
    Kind.OUT_OF_ORDER: "a message ahead of a sequence gap: held (202) or refused (409), "
    "applied only after the missing one",
    Kind.BAD_SIGNATURE: "a signature that does not match: refused (4xx), not applied",
    Kind.UNKNOWN_KEY: "signed under a key id the partner does not know: refused (4xx)",
    Kind.SCHEMA_DRIFT: "an unknown member, a member of the wrong type: refused (4xx) with a "
    "reason, not applied",
    Kind.REPLAY_WINDOW: "sent_at outside the replay window, before and ahead: refused (4xx)",
}


@dataclass(frozen=True)
class Answer:
    """What came back for one POST; status 0 when nothing did (`body` says why)."""

    status: int
    body: str
    at: str
    elapsed_ms: float

    @property
    def accepted(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """A 4xx answer."""
        return 400 <= self.status < 500


class Partner(Protocol):
    """The endpoint under test: takes envelopes; may tell which it applied."""

    def post(
        self, body: bytes, message_id: str, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """POST one envelope (Idempotency-Key: its message id); `headers` for another form
        (a B2MML document: its content type and detached signature)."""
        ...

    def applied(self, stream: str) -> list[str] | None:
        """Message ids applied on `stream`, in order; None if the partner does not say."""
        ...


@dataclass(frozen=True)
class Exchange:
    """One envelope sent and the answer to it."""

    note: str
    envelope: dict[str, Any]
    answer: Answer
    sent: dict[str, Any] | None = None  # what went, when not the envelope itself

    def as_json(self) -> dict[str, Any]:
        """The evidence of the exchange."""
        answer = self.answer
        sent = self.sent or {"sha256": hashlib.sha256(encode(self.envelope)).hexdigest(),
                             "envelope": self.envelope}  # fmt: skip
        return {
            "note": self.note,
            "sent": sent,
            "answer": {"status": answer.status, "body": answer.body, "at": answer.at,
                       "elapsed_ms": answer.elapsed_ms},
        }  # fmt: skip


@dataclass
class Outcome:
    """One case's verdict with its evidence."""

    schema: str
    kind: Kind
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: str = "the answers"
    expectation: str = ""  # what a conforming partner does (EXPECTATIONS, unless a form says)

    @property
    def passed(self) -> bool:
        """No problem found."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The case as the report holds it."""
        return {
            "message_type": self.schema,
            "case": self.kind.value,
            "expectation": self.expectation or EXPECTATIONS[self.kind],
            "result": "pass" if self.passed else "fail",
            "why": "; ".join(self.problems) or "as expected",
            "checked": self.checked,
            "exchanges": [exchange.as_json() for exchange in self.exchanges],
        }


@dataclass
class Play:
    """One conformance run against one partner: a stream of its own, numbered from 1."""

    partner: Partner
    signer: Signer
    site: str
    window: timedelta
    clock: Callable[[], datetime]
    stream: str = field(default_factory=lambda: f"conformance-{secrets.token_hex(4)}")
    sequence: int = 0
    TIME = "sent_at"  # the sender's time the receiver checks against its replay window

    def run(self, schemas: tuple[str, ...]) -> list[Outcome]:
        """Every case of every message type, in order."""
        return [outcome for schema in schemas for outcome in self.cases(schema)]

    def cases(self, schema: str) -> Iterator[Outcome]:
        """The cases of one message type (the duplicate repeats the valid one's bytes)."""
        valid, sent = self._valid(schema)
        yield valid
        yield self._duplicate(schema, sent)
        yield self._out_of_order(schema)
        yield self._refused(schema, Kind.BAD_SIGNATURE, [self._bad_signature(schema)])
        yield self._refused(schema, Kind.UNKNOWN_KEY, [self._unknown_key(schema)])
        yield self._refused(schema, Kind.SCHEMA_DRIFT, self._drifts(schema), reason_needed=True)
        late, early = self.clock() - self.window * 2, self.clock() + self.window * 2
        stale = [(f"{self.TIME} {moment.isoformat()}", self._sign(schema, sent_at=moment))
                 for moment in (late, early)]  # fmt: skip
        yield self._refused(schema, Kind.REPLAY_WINDOW, stale)

    def _drifts(self, schema: str) -> list[tuple[str, dict[str, Any]]]:
        return [(why, self._sign(schema, payload)) for why, payload in drifted(schema, self.site)]

    # ---- the cases ----------------------------------------------------------------------------

    def _valid(self, schema: str) -> tuple[Outcome, dict[str, Any]]:
        outcome = Outcome(schema, Kind.VALID)
        envelope = self._sign(schema, sequence=self._next())
        answer = self._send(outcome, "well-formed, signed, next in sequence", envelope)
        if not answer.accepted:
            outcome.problems.append(f"answered {_said(answer)}, not 2xx")
        self._applied_times(outcome, envelope, 1)
        return outcome, envelope

    def _duplicate(self, schema: str, envelope: dict[str, Any]) -> Outcome:
        outcome = Outcome(schema, Kind.DUPLICATE)
        answer = self._send(outcome, "the valid case's envelope again, byte for byte", envelope)
        if not answer.accepted:
            outcome.problems.append(f"answered {_said(answer)} to a duplicate, not 2xx")
        self._applied_times(outcome, envelope, 1)
        return outcome

    def _out_of_order(self, schema: str) -> Outcome:
        outcome = Outcome(schema, Kind.OUT_OF_ORDER)
        missing, ahead = self._next(), self._next()
        later = self._sign(schema, sequence=ahead)
        first = self._send(outcome, f"sequence {ahead} while {missing} is missing", later)
        if first.status not in (HELD, REFUSED_GAP):
            outcome.problems.append(
                f"answered {_said(first)} to a message ahead of a sequence gap: it should hold "
                f"it ({HELD}) or refuse it ({REFUSED_GAP}), not apply it out of order"
            )
        gap = self._sign(schema, sequence=missing)
        filler = self._send(outcome, f"the missing sequence {missing}", gap)
        if not filler.accepted:
            outcome.problems.append(f"answered {_said(filler)} to the missing message")
        if first.status == REFUSED_GAP:  # as the relay would: deliver it again, now in order
            again = self._send(outcome, f"sequence {ahead} again, the gap filled", later)
            if not again.accepted:
                outcome.problems.append(f"answered {_said(again)} once the gap was filled")
        applied = self._evidence(outcome)
        if applied is not None:
            order = [m for m in applied if m in (gap["message_id"], later["message_id"])]
            if order != [gap["message_id"], later["message_id"]]:
                outcome.problems.append(
                    f"applied {_positions(order, gap, later)}, not {missing} then {ahead}"
                )
        return outcome

    def _refused(
        self,
        schema: str,
        kind: Kind,
        attempts: list[tuple[str, dict[str, Any]]],
        reason_needed: bool = False,
    ) -> Outcome:
        outcome = Outcome(schema, kind)
        for note, envelope in attempts:
            answer = self._send(outcome, note, envelope)
            if not answer.refused:
                outcome.problems.append(f"{note}: answered {_said(answer)}, not 4xx")
            elif reason_needed and not answer.body.strip():
                outcome.problems.append(f"{note}: refused without a reason")
        for _, envelope in attempts:
            self._applied_times(outcome, envelope, 0)
        return outcome

    # ---- envelopes ----------------------------------------------------------------------------

    def _bad_signature(self, schema: str) -> tuple[str, dict[str, Any]]:
        forged, _ = generate_keypair()  # labgate's key id, another key's signature
        note = f"signed by another key under labgate's key id {self.signer.kid}"
        return note, self._sign(schema, signer=Signer(self.signer.kid, forged))

    def _unknown_key(self, schema: str) -> tuple[str, dict[str, Any]]:
        stranger = Signer.generate(f"conformance-unknown-{secrets.token_hex(3)}")
        return f"signed under key id {stranger.kid}", self._sign(schema, signer=stranger)

    def _sign(
        self,
        schema: str,
        payload: dict[str, Any] | None = None,
        *,
        sequence: int | None = None,
        sent_at: datetime | None = None,
        signer: Signer | None = None,
    ) -> dict[str, Any]:
        # A refused case takes the next number without using it up: nothing should apply it.
        signer = signer or self.signer
        return build_envelope(
            schema, self.site, SOURCE, self.stream, sequence or self.sequence + 1,
            payload if payload is not None else example(schema, self.site),
            kid=signer.kid, private_jwk=signer.private_jwk, sent_at=sent_at or self.clock(),
            correlation_id=f"{self.stream}-{schema.split('.')[1]}",
        )  # fmt: skip

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    # ---- sending and evidence -----------------------------------------------------------------

    def _send(self, outcome: Outcome, note: str, envelope: dict[str, Any]) -> Answer:
        answer = self.partner.post(encode(envelope), envelope["message_id"])
        outcome.exchanges.append(Exchange(note, envelope, answer))
        return answer

    def _evidence(self, outcome: Outcome) -> list[str] | None:
        applied = self.partner.applied(self.stream)
        outcome.checked = (
            "the answers only: the partner offers no record of what it applied"
            if applied is None
            else "the answers and the partner's record of what it applied"
        )
        return applied

    def _applied_times(self, outcome: Outcome, envelope: dict[str, Any], times: int) -> None:
        applied = self._evidence(outcome)
        if applied is None:
            return
        found = applied.count(envelope["message_id"])
        if found != times:
            outcome.problems.append(
                f"the partner applied message {envelope['message_id']} {found} time(s), not {times}"
            )


def _said(answer: Answer) -> str:
    if answer.status == 0:
        return f"nothing ({answer.body})"
    return f"HTTP {answer.status} {answer.body[:120]!r}"


def _positions(order: list[str], gap: dict[str, Any], later: dict[str, Any]) -> str:
    names = {gap["message_id"]: str(gap["sequence"]), later["message_id"]: str(later["sequence"])}
    return " then ".join(names[m] for m in order) or "neither"
