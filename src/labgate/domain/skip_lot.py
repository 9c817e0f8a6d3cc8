"""Skip-lot sampling of incoming material: when the full test panel may be skipped for a lot.

The plan is SkSP-2 as the NIST/SEMATECH e-Handbook of Statistical Methods, section 6.2.7
("What is Skip Lot Sampling?"), implements it:

1. start with normal lot-by-lot inspection, using the reference plan (here: the full panel);
2. when a pre-specified number, i, of consecutive lots are accepted, switch to inspecting only
   a fraction f of the lots, the members of that fraction selected at random;
3. when a lot is rejected, return to normal inspection.

The handbook calls i the *clearance number*, a positive integer, and requires 0 < f < 1 ("when
f = 1 there is no longer skip-lot sampling"). After the i-th consecutive accepted lot the *next*
lot is under skipping inspection.

The plan decides the full panel only. Identity testing of every lot of every component
(21 CFR 211.84(d)(1)) is always done, skipped or not; a skipped lot is released on its identity
test and the supplier's certificate of analysis (211.84(d)(2)).

The decision is pure: a *draw*, a number in [0, 1) made by `make_draw` and recorded with the
decision, selects the lot (inspected iff draw < f), so a replay of the same draws gives the same
decisions. In normal inspection every lot is inspected and no draw is made.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from labgate.domain.errors import InvalidInput
from labgate.domain.numbers import to_plain

__all__ = [
    "DRAW_PLACES",
    "InspectionState",
    "LotDecision",
    "LotRecord",
    "SkipLotPlan",
    "SkipLotState",
    "make_draw",
    "next_lot",
    "record_outcome",
    "replay",
]

DRAW_PLACES = 6
"""Draws are whole millionths: exact in a record, and P(draw < f) = f for f of up to 6 places."""


class InspectionState(StrEnum):
    """Whether every lot gets the full panel (normal) or only a random fraction (skipping)."""

    NORMAL = "normal"
    SKIPPING = "skipping"


@dataclass(frozen=True)
class SkipLotPlan:
    """An SkSP-2 plan: the clearance number i and the sampling fraction f."""

    clearance: int
    fraction: Decimal

    def __post_init__(self) -> None:
        """Refuse a plan the handbook does not define: i >= 1 and 0 < f < 1."""
        if isinstance(self.clearance, bool) or self.clearance < 1:
            raise InvalidInput(
                f"The clearance number {self.clearance} must be a whole number of 1 or more: "
                "the consecutive accepted lots before skipping starts.",
                reason="skip_lot.clearance_invalid",
                field="clearance",
            )
        if not (self.fraction.is_finite() and 0 < self.fraction < 1):
            raise InvalidInput(
                f"The sampling fraction {self.fraction} must lie strictly between 0 and 1; "
                "at 1 every lot is inspected and there is no skip-lot sampling.",
                reason="skip_lot.fraction_invalid",
                field="fraction",
            )


@dataclass(frozen=True)
class SkipLotState:
    """Where a material and supplier stand: the inspection state and the accepted lots in a row.

    The count runs on through skipping inspection (every lot released there is accepted) and
    falls to 0 on any rejection.
    """

    state: InspectionState = InspectionState.NORMAL
    consecutive_accepted: int = 0

    def __post_init__(self) -> None:
        """A count of lots cannot be negative."""
        if self.consecutive_accepted < 0:
            raise InvalidInput(
                f"The count of consecutive accepted lots {self.consecutive_accepted} is "
                "negative; it is 0 or more.",
                reason="skip_lot.count_negative",
                field="consecutive_accepted",
            )


@dataclass(frozen=True)
class LotDecision:
    """Whether one lot gets the full panel, the state it was decided in, and the draw used."""

    inspect: bool
    state: InspectionState
    draw: Decimal | None


def next_lot(
    plan: SkipLotPlan, state: SkipLotState, draw: Decimal | None, lot: int | None = None
) -> LotDecision:
    """Decide the next lot: always inspected in normal state; under skipping iff draw < f.

    `lot` only names the lot in an error message.
    """
    who = "The lot" if lot is None else f"Lot {lot}"
    if state.state is InspectionState.NORMAL:
        if draw is not None:
            raise InvalidInput(
                f"{who} is under normal inspection, where every lot is inspected; "
                f"give no draw (none), not {to_plain(draw)}.",
                reason="skip_lot.draw_unexpected",
                field="draw",
            )
        return LotDecision(True, state.state, None)
    if draw is None:
        raise InvalidInput(
            f"{who} is under skipping inspection and needs a draw in [0, 1) to decide "
            "whether it is inspected.",
            reason="skip_lot.draw_missing",
            field="draw",
        )
    _check_draw(draw, who)
    return LotDecision(draw < plan.fraction, state.state, draw)


def _check_draw(draw: Decimal, who: str) -> None:
    """A draw is a number from 0 up to, not including, 1."""
    if not (draw.is_finite() and 0 <= draw < 1):
        raise InvalidInput(
            f"{who} has the draw {draw}, outside [0, 1); a draw is 0 or more and below 1.",
            reason="skip_lot.draw_out_of_range",
            field="draw",
        )


def record_outcome(plan: SkipLotPlan, state: SkipLotState, accepted: bool) -> SkipLotState:
    """Move the state on after one lot: any rejection returns to normal inspection.

    A skipped lot is recorded as accepted once released; a lot rejected on identity alone is
    still a rejected lot, and returns the material to normal inspection (handbook step 4).
    """
    if not accepted:
        return SkipLotState(InspectionState.NORMAL, 0)
    count = state.consecutive_accepted + 1
    if state.state is InspectionState.NORMAL and count < plan.clearance:
        return SkipLotState(InspectionState.NORMAL, count)
    return SkipLotState(InspectionState.SKIPPING, count)


@dataclass(frozen=True)
class LotRecord:
    """One lot of a replay: its state, draw, whether it was inspected, and its disposition.

    `reported` is the full-panel outcome given for the lot (None for "-"); for a skipped lot it
    is kept as given but not used, since no full panel was run.
    """

    lot: int
    state: InspectionState
    draw: Decimal | None
    inspected: bool
    accepted: bool
    reported: bool | None


def replay(
    plan: SkipLotPlan, outcomes: Sequence[bool | None], draws: Sequence[Decimal | None]
) -> list[LotRecord]:
    """Run a sequence of lots through the plan from normal inspection, one outcome and draw each.

    An inspected lot is accepted or rejected by its outcome, which must be given. A skipped lot
    is accepted (released on identity and the supplier's CoA) whatever its entry says: the
    outcomes are what the full panel would find, and a skipped lot's is never found.
    """
    if len(outcomes) != len(draws):
        raise InvalidInput(
            f"There are {_lots(len(outcomes), 'outcome')} and {_lots(len(draws), 'draw')}; give "
            "one of each per lot (a draw of none for a lot under normal inspection).",
            reason="skip_lot.length_mismatch",
            field="draws",
        )
    state, records = SkipLotState(), []
    for lot, (outcome, draw) in enumerate(zip(outcomes, draws, strict=True), start=1):
        decision = next_lot(plan, state, draw, lot)
        accepted = _disposition(decision, outcome, lot)
        records.append(LotRecord(lot, decision.state, draw, decision.inspect, accepted, outcome))
        state = record_outcome(plan, state, accepted)
    return records


def _lots(n: int, noun: str) -> str:
    """Render "1 draw" or "3 draws"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _disposition(decision: LotDecision, outcome: bool | None, lot: int) -> bool:
    """Accept a skipped lot; take an inspected lot's outcome, which it must have."""
    if not decision.inspect:
        return True
    if outcome is None:
        raise InvalidInput(
            f"Lot {lot} is inspected under {decision.state.value} inspection and needs an "
            "outcome, accept or reject, not '-'.",
            reason="skip_lot.outcome_missing",
            field="outcomes",
        )
    return outcome


def make_draw(rng: random.Random | None = None) -> Decimal:
    """Draw a number in [0, 1) in whole millionths, by default from the OS's secure source.

    The service records the draw with the decision; tests pass a seeded `random.Random`.
    """
    source = rng if rng is not None else secrets.SystemRandom()
    return Decimal(source.randrange(10**DRAW_PLACES)).scaleb(-DRAW_PLACES)
