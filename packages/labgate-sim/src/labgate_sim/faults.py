"""Fault modes for the simulators: pure functions over the messages about to leave.

Each takes the outgoing items, a rate (the chance that each eligible item is hit) and a seeded
`random.Random`, and returns a new list; nothing is sent here, so a run repeats from its seed.

A fault that makes labgate refuse a message sends the damaged copy *before* the intact content
when `resend` is on, the way labgate's rule for sequence numbers asks (docs/connectors.md). A
copy labgate cannot authenticate (bad signature) or that is dated ahead of its clock (clock
skew) uses no number: the original follows under the same id and number. A copy labgate takes
in and refuses for its content (an unknown field) uses its number: the content follows as a new
message, with a new id and the next number.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import random
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from labgate.adapters.codecs.filepack import csv_bytes
from labgate.adapters.connectors.partner.outgoing import Outgoing, resign
from labgate.compliance.signer import Signer


def _hit(rng: random.Random, rate: float) -> bool:
    if not 0 <= rate <= 1:
        raise ValueError(f"A fault rate is a chance from 0 to 1, not {rate}.")
    return rate > 0 and rng.random() < rate


def duplicate(items: Sequence[Outgoing], rate: float, rng: random.Random) -> list[Outgoing]:
    """Some messages go out twice, byte for byte, the copy somewhere after the original."""
    later: dict[int, list[Outgoing]] = {}
    for index, item in enumerate(items):
        if not item.damaged and _hit(rng, rate):
            at = rng.randint(index, len(items) - 1)
            while items[at].damaged and at + 1 < len(items):  # not between a copy and original
                at += 1
            later.setdefault(at, []).append(item.hit("duplicate"))
    out: list[Outgoing] = []
    for index, item in enumerate(items):
        out += [item, *later.get(index, [])]
    return out


def reorder(items: Sequence[Outgoing], rate: float, rng: random.Random) -> list[Outgoing]:
    """Some neighbours swap places, so a later sequence number arrives first."""
    out, index = list(items), 0
    while index < len(out) - 1:
        first, second = out[index], out[index + 1]
        if not (first.damaged or second.damaged) and _hit(rng, rate):
            out[index], out[index + 1] = second.hit("reorder"), first.hit("reorder")
            index += 2
        else:
            index += 1
    return out


def delay(
    items: Sequence[Outgoing], rate: float, rng: random.Random, seconds: float = 2.0
) -> list[Outgoing]:
    """Some messages leave `seconds` late; the others overtake them."""
    return [
        item.hit("delay", delay=item.delay + seconds) if _hit(rng, rate) else item for item in items
    ]


def _damage(
    items: Sequence[Outgoing],
    rate: float,
    rng: random.Random,
    resend: bool,
    change: Callable[[Outgoing], Outgoing],
    follow: Callable[[Outgoing], Outgoing] = lambda item: item,
    eligible: Callable[[Outgoing], bool] = lambda item: True,
) -> list[Outgoing]:
    out: list[Outgoing] = []
    for item in items:
        if item.damaged or not eligible(item) or not _hit(rng, rate):
            out.append(item)
            continue
        out += [change(item), follow(item)] if resend else [change(item)]
    return out


def bad_signature(
    items: Sequence[Outgoing], rate: float, rng: random.Random, resend: bool = True
) -> list[Outgoing]:
    """One character of the payload changes after signing: the signature no longer holds."""

    def flip(item: Outgoing) -> Outgoing:
        document = copy.deepcopy(item.document)
        _flip_text(document["payload"], rng)
        return item.hit("bad_signature", document=document, damaged=True)

    return _damage(items, rate, rng, resend, flip)


def unknown_field(
    items: Sequence[Outgoing],
    rate: float,
    rng: random.Random,
    signer: Signer,
    resend: bool = True,
    member: str = "lims_comment",
    number: Callable[[str], int] | None = None,
) -> list[Outgoing]:
    """Schema drift: a newer partner version adds a payload member, signed properly. labgate
    takes it in and refuses it, so it uses its number; with `resend` the content follows as a
    new message, numbered by `number(stream)` (by default past the highest number in `items`).
    A message that overtook another (reordered) is left alone: the drifted copy is sent in its
    turn, so labgate's answer to it is its refusal."""
    following = itertools.count(max((i.sequence for i in items), default=0) + 1)
    numbered = number or (lambda stream: next(following))

    def drift(item: Outgoing) -> Outgoing:
        document = copy.deepcopy(item.document)
        document["payload"][member] = "added by a newer version of the sender"
        return item.hit("unknown_field", document=resign(document, signer), damaged=True)

    def again(item: Outgoing) -> Outgoing:
        document = copy.deepcopy(item.document)
        document["message_id"] = _next_id(document["message_id"], rng)
        document["sequence"] = numbered(document["stream"])
        return replace(item, document=resign(document, signer))  # a new message, not a fault

    in_turn = lambda item: "reorder" not in item.faults  # noqa: E731
    return _damage(items, rate, rng, resend, drift, again, in_turn)


def _next_id(message_id: str, rng: random.Random) -> str:
    """A new UUIDv7 at the same moment as `message_id`, its random bits drawn from `rng` (so a
    seeded run repeats byte for byte)."""
    moment = uuid.UUID(message_id).int >> 80  # the 48-bit Unix time in milliseconds
    value = (moment << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def clock_skew(
    items: Sequence[Outgoing],
    rate: float,
    rng: random.Random,
    signer: Signer,
    seconds: float = 600.0,
    resend: bool = True,
) -> list[Outgoing]:
    """The sender's clock is off by `seconds`: sent_at moves, signed; past labgate's replay
    window the copy is refused (and the original follows if `resend`), inside it it is applied."""

    def skew(item: Outgoing) -> Outgoing:
        document = copy.deepcopy(item.document)
        sent = datetime.fromisoformat(document["sent_at"]) + timedelta(seconds=seconds)
        document["sent_at"] = sent.isoformat().replace("+00:00", "Z")
        return item.hit("clock_skew", document=resign(document, signer), damaged=True)

    return _damage(items, rate, rng, resend, skew)


def changed_unit(
    items: Sequence[Outgoing],
    rate: float,
    rng: random.Random,
    signer: Signer,
    units: tuple[str, str] = ("%", "mg/g"),
) -> list[Outgoing]:
    """Schema drift in meaning: results in one unit are labelled another, value unchanged, and
    signed. labgate cannot tell; it converts and judges what it was told."""
    before, after = units
    out: list[Outgoing] = []
    for item in items:
        records = list(item.rows) if item.rows is not None else [item.document["payload"]]
        if item.damaged or all(r.get("unit") != before for r in records) or not _hit(rng, rate):
            out.append(item)
            continue
        relabelled = [{**r, "unit": after} if r.get("unit") == before else r for r in records]
        document = copy.deepcopy(item.document)
        if item.rows is None:
            document["payload"] = relabelled[0]
            out.append(item.hit("changed_unit", document=resign(document, signer)))
            continue
        digest = hashlib.sha256(csv_bytes(relabelled)).hexdigest()
        document["payload"]["files"][0]["sha256"] = digest
        rows = tuple(relabelled)
        out.append(item.hit("changed_unit", document=resign(document, signer), rows=rows))
    return out


def _flip_text(payload: dict[str, Any], rng: random.Random) -> None:
    """Change one letter or digit of one string in the payload (JSON stays valid)."""
    found: list[tuple[dict[str, Any] | list[Any], Any, str]] = []

    def walk(node: Any) -> None:
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            if isinstance(value, str) and any(c.isalnum() for c in value):
                found.append((node, key, value))
            elif isinstance(value, dict | list):
                walk(value)

    walk(payload)
    if not found:
        raise ValueError("The payload holds no text to damage.")
    node, key, text = found[rng.randrange(len(found))]
    spots = [i for i, c in enumerate(text) if c.isalnum()]
    at = spots[rng.randrange(len(spots))]
    pool = string.digits if text[at].isdigit() else string.ascii_letters
    node[key] = text[:at] + rng.choice(pool.replace(text[at], "")) + text[at + 1 :]


# The order faults apply in: damaged copies stay just before their originals.
FAULTS: tuple[str, ...] = ("reorder", "delay", "changed_unit", "clock_skew")
FAULTS += ("unknown_field", "bad_signature", "duplicate")


def parse_fault(text: str) -> tuple[str, float]:
    """`name=rate` from the command line, e.g. `duplicate=0.1`."""
    name, _, rate = text.partition("=")
    name = name.strip().replace("-", "_")
    if name not in FAULTS:
        raise ValueError(f"Unknown fault {name!r}; use one of {', '.join(sorted(FAULTS))}.")
    try:
        value = float(rate) if rate else 1.0
    except ValueError:
        raise ValueError(f"Fault {name}: the rate {rate!r} is not a number.") from None
    if not 0 <= value <= 1:
        raise ValueError(f"Fault {name}: the rate is a chance from 0 to 1, not {value}.")
    return name, value


@dataclass
class FaultPlan:
    """The faults a simulator injects, their rates, and the seeded generator they draw from."""

    rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    resend: bool = True
    delay_seconds: float = 2.0
    skew_seconds: float = 600.0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        for name in self.rates:
            parse_fault(f"{name}={self.rates[name]}")
        self.rng = random.Random(self.seed)

    def apply(
        self,
        items: Sequence[Outgoing],
        signer: Signer,
        number: Callable[[str], int] | None = None,
    ) -> list[Outgoing]:
        """The items as they will leave, every fault applied in FAULTS order; `number(stream)`
        hands out the sequence number of a message a fault adds (the sender's own counter)."""
        out, rng, resend = list(items), self.rng, self.resend
        steps: dict[str, Callable[[list[Outgoing], float], list[Outgoing]]] = {
            "reorder": lambda got, rate: reorder(got, rate, rng),
            "delay": lambda got, rate: delay(got, rate, rng, self.delay_seconds),
            "changed_unit": lambda got, rate: changed_unit(got, rate, rng, signer),
            "clock_skew": lambda got, rate: clock_skew(
                got, rate, rng, signer, self.skew_seconds, resend
            ),
            "unknown_field": lambda got, rate: unknown_field(
                got, rate, rng, signer, resend, number=number
            ),
            "bad_signature": lambda got, rate: bad_signature(got, rate, rng, resend),
            "duplicate": lambda got, rate: duplicate(got, rate, rng),
        }
        for name in FAULTS:
            if self.rates.get(name, 0.0):
                out = steps[name](out, self.rates[name])
        return out
