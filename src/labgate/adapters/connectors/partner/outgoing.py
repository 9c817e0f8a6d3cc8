"""A message on its way out of a partner system, before and after any faults (the simulators'
own) have had their go."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from labgate.adapters.codecs.filepack import csv_bytes, pack_name, tar_bytes
from labgate.compliance.envelope import encode, parse_envelope, sign_envelope
from labgate.compliance.signer import Signer
from labgate.service.packs import MANIFEST

DATA_FILE = "results.csv"  # the one data file of a partner's pack


@dataclass(frozen=True)
class Outgoing:
    """One message on its way out: a signed envelope, or a pack (its signed manifest and rows)."""

    document: dict[str, Any]
    rows: tuple[dict[str, Any], ...] | None = None  # a pack's result records; None: an envelope
    damaged: bool = False  # a copy labgate must refuse
    delay: float = 0.0  # seconds it leaves late
    faults: tuple[str, ...] = ()

    @property
    def message_id(self) -> str:
        """The message id (the pack's, for a pack)."""
        return str(self.document["message_id"])

    @property
    def sequence(self) -> int:
        """The sequence number on its stream."""
        return int(self.document["sequence"])

    @property
    def schema(self) -> str:
        """The envelope's schema id."""
        return str(self.document["schema"])

    def wire(self) -> bytes:
        """The bytes that go on the channel."""
        envelope = encode(self.document)
        if self.rows is None:
            return envelope
        return tar_bytes([(MANIFEST, envelope), (DATA_FILE, csv_bytes(self.rows))])

    def name(self) -> str:
        """A pack's file name, as its manifest makes it."""
        return pack_name(parse_envelope(encode(self.document)))

    def hit(self, fault: str, **changes: Any) -> Outgoing:
        """This item with `fault` applied and named."""
        return replace(self, faults=(*self.faults, fault), **changes)


def resign(document: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The document signed again after a change, as a partner's own software would."""
    fields = {name: value for name, value in document.items() if name != "signature"}
    return sign_envelope(fields, signer.kid, signer.private_jwk)
