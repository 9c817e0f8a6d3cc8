"""The conformance cases in B2MML V0701, as labgate's relay delivers to an MES that speaks it
(LABGATE_MES_FORMAT=b2mml): each message is the document `to_b2mml` writes, POSTed as
application/xml with a detached JWS over its exact bytes in X-Labgate-Signature, and the
X-Labgate-Schema/Stream/Sequence/Correlation-Id headers; Idempotency-Key is the message id, which
is also the document's BODID.

The cases are the JSON ones (cases.Play), played with documents: a duplicate is the same bytes
under the same Idempotency-Key; the sequence is the X-Labgate-Sequence header; a bad signature is
the document changed after signing, or another key's signature under labgate's key id; schema
drift is a document the V0701 XSD refuses; the replay window is checked on the document's
ApplicationArea/CreationDateTime (written from the message's sent_at, and covered by the
signature, so a receiver can trust it). The documents are written and checked through a port
(`Documents`: the codec is an adapter's); every document meant to be valid is validated against
the XSDs before it is sent, so a "valid" case never sends an invalid one."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from labgate.compliance.detached import sign_detached
from labgate.compliance.envelope import generate_keypair
from labgate.compliance.signer import Signer
from labgate.service.conformance.cases import Answer, Exchange, Kind, Outcome, Play

XML = "application/xml"
SAMPLE = b"S-CONF-0001"  # examples.py: the sample every example names
RELEASE = "B2MML V0701"
B2MML_EXPECTATIONS = {
    Kind.VALID: "a schema-valid document with a good detached JWS: accepted (2xx) and applied once",
    Kind.DUPLICATE: "the same document again under the same Idempotency-Key (its BODID): "
    "accepted (2xx), not applied a second time",
    Kind.OUT_OF_ORDER: "a document whose X-Labgate-Sequence is ahead of a gap: held (202) or "
    "refused (409), applied only after the missing one",
    Kind.BAD_SIGNATURE: "the document changed after signing, or another key's JWS under "
    "labgate's key id: refused (4xx), not applied",
    Kind.UNKNOWN_KEY: "a detached JWS under a key id the partner does not know: refused (4xx)",
    Kind.SCHEMA_DRIFT: f"a document that is not valid against the {RELEASE} XSD (an unknown "
    "element, a required element left out): refused (4xx) with a reason, not applied",
    Kind.REPLAY_WINDOW: "ApplicationArea/CreationDateTime outside the replay window, before "
    "and ahead: refused (4xx)",
}


class Documents(Protocol):
    """labgate's B2MML writer and the V0701 schemas, for the kit."""

    def has_form(self, schema: str) -> bool:
        """labgate writes this message type as a B2MML document."""
        ...

    def write(
        self, schema: str, payload: dict[str, Any], *, message_id: str, sent_at: datetime
    ) -> bytes:
        """The document labgate's relay would send for this message."""
        ...

    def problems(self, document: bytes) -> list[str]:
        """Where the document breaks the XSD; empty when it is valid."""
        ...

    def drifted(self, document: bytes) -> list[tuple[str, bytes]]:
        """Copies the XSD refuses, each with what was changed."""
        ...


@dataclass(frozen=True)
class Form:
    """How one message goes out, when not as a valid document signed with labgate's key."""

    signer: Signer
    document: bytes | None = None  # written in advance (a drifted copy)
    after_signing: Callable[[bytes], bytes] | None = None  # a change the signature misses


@dataclass
class B2mmlPlay(Play):
    """A conformance run in B2MML: the cases of `Play`, each message sent as its document."""

    documents: Documents | None = None
    forms: dict[str, Form] = field(default_factory=dict)  # by message id
    sent: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    TIME = "CreationDateTime"

    def cases(self, schema: str) -> Iterator[Outcome]:
        """The cases of one message type, each with what a B2MML receiver should do."""
        for outcome in super().cases(schema):
            outcome.expectation = B2MML_EXPECTATIONS[outcome.kind]
            yield outcome

    def _port(self) -> Documents:
        if self.documents is None:
            raise ValueError("A B2MML run needs labgate's B2MML writer (documents).")
        return self.documents

    # ---- the cases that differ from the JSON ones ---------------------------------------------

    def _bad_signature(self, schema: str) -> tuple[str, dict[str, Any]]:
        envelope = self._sign(schema)
        self.forms[envelope["message_id"]] = Form(self.signer, after_signing=_altered)
        return "the document's bytes changed after signing (one digit of an id)", envelope

    def _forged(self, schema: str) -> tuple[str, dict[str, Any]]:
        forged, _ = generate_keypair()  # labgate's key id, another key's signature
        envelope = self._sign(schema)
        self.forms[envelope["message_id"]] = Form(Signer(self.signer.kid, forged))
        return f"signed by another key under labgate's key id {self.signer.kid}", envelope

    def _refused(
        self,
        schema: str,
        kind: Kind,
        attempts: list[tuple[str, dict[str, Any]]],
        reason_needed: bool = False,
    ) -> Outcome:
        if kind is Kind.BAD_SIGNATURE:  # both ways a signature can fail to hold
            attempts = [*attempts, self._forged(schema)]
        return super()._refused(schema, kind, attempts, reason_needed)

    def _unknown_key(self, schema: str) -> tuple[str, dict[str, Any]]:
        stranger = Signer.generate(f"conformance-unknown-{secrets.token_hex(3)}")
        envelope = self._sign(schema, signer=stranger)
        self.forms[envelope["message_id"]] = Form(stranger)
        return f"signed under key id {stranger.kid}", envelope

    def _drifts(self, schema: str) -> list[tuple[str, dict[str, Any]]]:
        attempts = []
        for number in itertools.count():  # each drifted copy with a message id (BODID) its own
            envelope = self._sign(schema)
            drifts = self._port().drifted(self._write(envelope))
            if number >= len(drifts):
                break
            why, document = drifts[number]
            self.forms[envelope["message_id"]] = Form(self.signer, document=document)
            attempts.append((why, envelope))
        return attempts

    # ---- sending ------------------------------------------------------------------------------

    def _write(self, envelope: dict[str, Any]) -> bytes:
        sent_at = datetime.fromisoformat(envelope["sent_at"])
        return self._port().write(envelope["schema"], envelope["payload"],
                                  message_id=envelope["message_id"], sent_at=sent_at)  # fmt: skip

    def _send(self, outcome: Outcome, note: str, envelope: dict[str, Any]) -> Answer:
        message_id = envelope["message_id"]
        if message_id not in self.sent:  # the same bytes when a case sends it again
            prepared = self._prepare(envelope)
            if isinstance(prepared, str):  # the kit's own writer failed: nothing is sent
                answer = Answer(0, prepared, "", 0.0)
                outcome.problems.append(f"{note}: {prepared}")
                outcome.exchanges.append(Exchange(note, envelope, answer))
                return answer
            self.sent[message_id] = prepared
        body, headers = self.sent[message_id]
        answer = self.partner.post(body, message_id, headers)
        evidence = {"sha256": hashlib.sha256(body).hexdigest(), "headers": headers,
                    "document": body.decode("utf-8")}  # fmt: skip
        outcome.exchanges.append(Exchange(note, envelope, answer, evidence))
        return answer

    def _prepare(self, envelope: dict[str, Any]) -> tuple[bytes, dict[str, str]] | str:
        form = self.forms.get(envelope["message_id"], Form(self.signer))
        body = form.document or self._write(envelope)
        if form.document is None:
            problems = self._port().problems(body)
            if problems:
                return f"the kit wrote a document {RELEASE} refuses ({problems[0]}); not sent"
        token = sign_detached(body, form.signer.kid, form.signer.private_jwk)
        if form.after_signing is not None:
            body = form.after_signing(body)
        headers = {
            "Content-Type": XML,
            "X-Labgate-Signature": token,
            "X-Labgate-Schema": envelope["schema"],
            "X-Labgate-Stream": envelope["stream"],
            "X-Labgate-Sequence": str(envelope["sequence"]),
            "X-Labgate-Correlation-Id": envelope["correlation_id"],
        }
        return body, headers


def _altered(body: bytes) -> bytes:
    """The sample's id changed by one digit: still valid B2MML, the BODID untouched, so only
    the signature tells (every example the kit sends names the sample)."""
    if SAMPLE not in body:
        raise ValueError("The document names no conformance sample to alter.")
    return body.replace(SAMPLE, SAMPLE[:-1] + b"2", 1)
