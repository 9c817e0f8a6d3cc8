"""Signed checkpoints of the audit trail's head, and the check of the whole trail against them.

The hash chain alone shows an entry edited or removed in the middle, but not a cut tail (what
is left still links up) nor a chain re-sealed from its first entry. Two anchors close that:
the head row, moved in the same transaction as every append, and checkpoints, (seq, hash,
time) signed with labgate's Ed25519 key and kept append-only. A checkpoint names an entry that
must still be in the chain with that hash, and nobody without the key can sign a new one."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from labgate.compliance.audit import GENESIS_HASH, ChainReport, Sealed, verify_chain
from labgate.compliance.canonical import canonical_json
from labgate.compliance.clock import iso_utc
from labgate.compliance.detached import sign_detached, verify_detached
from labgate.compliance.envelope import EnvelopeError
from labgate.compliance.signer import Signer
from labgate.domain.errors import LabgateError

CHECKPOINT_TYPE = "labgate.audit_checkpoint.v1"


class TrailBroken(LabgateError):
    """The trail does not check out, so labgate will not sign a checkpoint of it."""

    default_reason = "audit.chain_broken"


@dataclass(frozen=True)
class Head:
    """The newest entry as the head row (or an export) records it."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """labgate's signed word that the trail reached entry `seq`, whose hash was `hash`."""

    seq: int
    hash: str
    at: datetime
    kid: str
    public_jwk: dict[str, Any]
    signature: str

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        return checkpoint_bytes(self.seq, self.hash, self.at, self.kid)

    def signature_holds(self) -> bool:
        """Whether the signature is good for these bytes under the key it names."""
        try:
            verify_detached(self.signed_bytes(), self.signature, self.public_jwk)
        except (EnvelopeError, KeyError, TypeError):
            return False
        return True


def checkpoint_bytes(seq: int, hash_: str, at: datetime, kid: str) -> bytes:
    """Canonical JSON of a checkpoint's content (its type included, so no other signed
    document of labgate's can pass for one)."""
    content = {"type": CHECKPOINT_TYPE, "seq": seq, "hash": hash_, "at": iso_utc(at), "kid": kid}
    return canonical_json(content)


def thumbprint(jwk: dict[str, Any]) -> str:
    """An Ed25519 key's RFC 7638 thumbprint, to compare with labgate's published key."""
    members = canonical_json({name: jwk.get(name) for name in ("crv", "kty", "x")})
    return base64.urlsafe_b64encode(hashlib.sha256(members).digest()).rstrip(b"=").decode()


def sign_checkpoint(head: Head, at: datetime, signer: Signer) -> Checkpoint:
    """A checkpoint of `head`, signed now with labgate's key."""
    token = sign_detached(
        checkpoint_bytes(head.seq, head.hash, at, signer.kid), signer.kid, signer.private_jwk
    )
    return Checkpoint(head.seq, head.hash, at, signer.kid, signer.public_jwk, token)


@dataclass(frozen=True)
class TrailReport:
    """The outcome of checking the trail: its chain, its head and its checkpoints."""

    checked: int
    checkpoints: int = 0
    last_checkpoint: int | None = None
    after_checkpoint: int = 0
    keys_pinned: bool = False
    keys: tuple[str, ...] = ()  # "kid (thumbprint)" of each key that signed a checkpoint
    first_broken: int | None = None
    problem: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether chain, head and every checkpoint checked out."""
        return self.reason is None


@dataclass(frozen=True)
class Walk:
    """The chain walked: its report, the entry it ended at, and the hashes of the entries the
    checkpoints name (those it came across)."""

    chain: ChainReport
    end: Head
    seen: dict[int, str]


Walker = Callable[[frozenset[int]], Walk]  # walks the chain, noting the hashes of these seqs


def walk(
    entries: Iterable[Sealed],
    wanted: frozenset[int],
    after: int = 0,
    prev_hash: str = GENESIS_HASH,
) -> Walk:
    """Check the chain of `entries` (those after `after`, whose hash is `prev_hash`)."""
    seen: dict[int, str] = {}
    last = [Head(after, prev_hash)]

    def watched() -> Iterator[Sealed]:
        entry = None
        for entry in entries:
            if entry.seq in wanted:
                seen[entry.seq] = entry.hash
            yield entry
        if entry is not None:
            last[0] = Head(entry.seq, entry.hash)

    chain = verify_chain(watched(), after, prev_hash)
    return Walk(chain, last[0], seen)


def verify_trail(
    entries: Iterable[Sealed],
    head: Head | None,
    checkpoints: Sequence[Checkpoint],
    trusted: Sequence[dict[str, Any]] = (),
) -> TrailReport:
    """Check the chain, that it ends where the head says, and that every checkpoint is signed
    (by one of the `trusted` public keys, when any are given) and names an entry of the chain."""
    return verify_walked(lambda wanted: walk(entries, wanted), head, checkpoints, trusted)


def verify_walked(
    walker: Walker,
    head: Head | None,
    checkpoints: Sequence[Checkpoint],
    trusted: Sequence[dict[str, Any]] = (),
) -> TrailReport:
    """`verify_trail` with the chain walked by `walker` (in parallel, say), once the
    checkpoints' signatures hold."""
    pinned = bool(trusted)
    refused = _signatures(checkpoints, trusted)
    if refused is not None:
        return refused
    wanted = frozenset(c.seq for c in checkpoints)
    walked = walker(wanted)
    chain, end, seen = walked.chain, walked.end, walked.seen
    if not chain.ok:
        problem = f"entry {chain.first_broken}: {chain.problem}"
        return TrailReport(
            chain.checked,
            first_broken=chain.first_broken,
            problem=problem,
            reason="audit.chain_broken",
            keys_pinned=pinned,
        )
    newest = max(wanted, default=None)
    keys = tuple(sorted({f"{c.kid} ({thumbprint(c.public_jwk)})" for c in checkpoints}))
    report = TrailReport(end.seq, len(checkpoints), newest, end.seq - (newest or 0), pinned, keys)
    found = _head_problem(end, head) or _checkpoint_problem(end, checkpoints, seen)
    if found is None:
        return report
    broken, problem, reason = found
    return replace(report, first_broken=broken, problem=problem, reason=reason)


Problem = tuple[int, str, str]  # the first entry at fault, the sentence, the reason code


def _signatures(
    checkpoints: Sequence[Checkpoint], trusted: Sequence[dict[str, Any]]
) -> TrailReport | None:
    known = {key.get("x") for key in trusted}
    for c in checkpoints:
        if trusted and c.public_jwk.get("x") not in known:
            problem = (
                f"the checkpoint of entry {c.seq} ({iso_utc(c.at)}) is signed by key "
                f"{c.kid!r}, which is not labgate's key: it was not made by labgate"
            )
            return TrailReport(
                0,
                first_broken=c.seq,
                problem=problem,
                reason="audit.checkpoint_key_unknown",
                keys_pinned=True,
            )
        if not c.signature_holds():
            problem = (
                f"the checkpoint of entry {c.seq} ({iso_utc(c.at)}) does not carry a valid "
                f"signature by key {c.kid!r}: it was altered or forged"
            )
            return TrailReport(
                0,
                first_broken=c.seq,
                problem=problem,
                reason="audit.checkpoint_forged",
                keys_pinned=bool(trusted),
            )
    return None


def _head_problem(end: Head, head: Head | None) -> Problem | None:
    if head is None or head == end:
        return None
    if head.seq > end.seq:
        return (
            end.seq + 1,
            f"the head names entry {head.seq} but the trail ends at entry "
            f"{end.seq}: {_missing(head.seq - end.seq)}",
            "audit.tail_missing",
        )
    if head.seq < end.seq:
        return (
            head.seq + 1,
            f"the trail holds {end.seq - head.seq} entries past the head "
            f"(entry {head.seq}): they were added behind labgate's back",
            "audit.head_mismatch",
        )
    return (
        end.seq,
        f"entry {end.seq}'s hash is not the one the head recorded: the trail was "
        "re-sealed or its newest entry replaced",
        "audit.head_mismatch",
    )


def _checkpoint_problem(
    end: Head, checkpoints: Sequence[Checkpoint], seen: dict[int, str]
) -> Problem | None:
    for c in sorted(checkpoints, key=lambda c: c.seq):
        when = iso_utc(c.at)
        if c.seq > end.seq:
            return (
                end.seq + 1,
                f"the checkpoint of {when} vouches for entry {c.seq}, but the "
                f"trail ends at entry {end.seq}: {_missing(c.seq - end.seq)}",
                "audit.tail_missing",
            )
        if seen.get(c.seq) != c.hash:
            return (
                c.seq,
                f"entry {c.seq}'s hash differs from the one the checkpoint of {when} "
                "signed: the chain was re-sealed after it",
                "audit.resealed",
            )
    return None


def _missing(count: int) -> str:
    return (
        "the newest entry is missing" if count == 1 else f"the newest {count} entries are missing"
    )
