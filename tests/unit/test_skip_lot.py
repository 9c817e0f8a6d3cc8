"""SkSP-2 skip-lot sampling as the NIST/SEMATECH e-Handbook 6.2.7 describes it: normal inspection
until i consecutive lots are accepted, then a random fraction f of lots, and back to normal on
any rejection."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from labgate.domain.errors import InvalidInput
from labgate.domain.skip_lot import (
    DRAW_PLACES,
    InspectionState,
    SkipLotPlan,
    SkipLotState,
    make_draw,
    next_lot,
    record_outcome,
    replay,
)

NORMAL, SKIPPING = InspectionState.NORMAL, InspectionState.SKIPPING
ACCEPT, REJECT, NONE = True, False, None
PLAN = SkipLotPlan(clearance=3, fraction=Decimal("0.5"))


def d(text: str) -> Decimal:
    return Decimal(text)


def test_a_worked_replay_follows_the_handbook_lot_by_lot() -> None:
    # i = 3, f = 0.5. Lot 4 is skipped although its full panel "would" reject: skipped lots
    # are released on identity + CoA, and their outcome is never found.
    outcomes = [ACCEPT, ACCEPT, ACCEPT, REJECT, ACCEPT, REJECT, ACCEPT, ACCEPT, ACCEPT, ACCEPT]
    draws = [None, None, None, d("0.7"), d("0.2"), d("0.1"), None, None, None, d("0.5")]
    rows = [
        (r.lot, r.state, r.draw, r.inspected, r.accepted) for r in replay(PLAN, outcomes, draws)
    ]
    assert rows == [
        (1, NORMAL, None, True, True),
        (2, NORMAL, None, True, True),
        (3, NORMAL, None, True, True),  # the i-th consecutive acceptance ...
        (4, SKIPPING, d("0.7"), False, True),  # ... puts the next lot under skipping
        (5, SKIPPING, d("0.2"), True, True),  # 0.2 < 0.5: inspected, accepted
        (6, SKIPPING, d("0.1"), True, False),  # inspected, rejected: back to normal
        (7, NORMAL, None, True, True),
        (8, NORMAL, None, True, True),
        (9, NORMAL, None, True, True),
        (10, SKIPPING, d("0.5"), False, True),  # draw == f is not below f: skipped
    ]


def test_a_rejection_under_normal_inspection_resets_the_count() -> None:
    outcomes = [ACCEPT, ACCEPT, REJECT, ACCEPT, ACCEPT, ACCEPT, ACCEPT]
    draws = [None] * 6 + [d("0.3")]
    records = replay(PLAN, outcomes, draws)
    assert [r.state for r in records] == [NORMAL] * 6 + [SKIPPING]
    assert [r.accepted for r in records] == outcomes
    assert all(r.inspected for r in records)


def test_clearance_one_skips_from_the_lot_after_the_first_acceptance() -> None:
    plan = SkipLotPlan(1, d("0.25"))
    records = replay(plan, [ACCEPT, ACCEPT], [None, d("0.9")])
    assert [(r.state, r.inspected) for r in records] == [(NORMAL, True), (SKIPPING, False)]


def test_the_reported_outcome_of_a_skipped_lot_is_kept_but_not_used() -> None:
    plan = SkipLotPlan(1, d("0.5"))
    skipped = replay(plan, [ACCEPT, NONE, REJECT], [None, d("0.6"), d("0.9")])
    assert [(r.reported, r.accepted) for r in skipped[1:]] == [(NONE, True), (REJECT, True)]


@pytest.mark.parametrize(
    ("state", "accepted", "expected"),
    [
        (SkipLotState(NORMAL, 0), True, SkipLotState(NORMAL, 1)),
        (SkipLotState(NORMAL, 2), True, SkipLotState(SKIPPING, 3)),
        (SkipLotState(NORMAL, 2), False, SkipLotState(NORMAL, 0)),
        (SkipLotState(SKIPPING, 3), True, SkipLotState(SKIPPING, 4)),
        (SkipLotState(SKIPPING, 7), False, SkipLotState(NORMAL, 0)),
    ],
)
def test_record_outcome_moves_the_state(state, accepted, expected) -> None:
    assert record_outcome(PLAN, state, accepted) == expected


def test_next_lot_inspects_every_lot_under_normal_inspection() -> None:
    decision = next_lot(PLAN, SkipLotState(NORMAL, 2), None)
    assert (decision.inspect, decision.state, decision.draw) == (True, NORMAL, None)


@pytest.mark.parametrize(("draw", "inspect"), [("0", True), ("0.499999", True), ("0.5", False)])
def test_next_lot_under_skipping_inspects_iff_the_draw_is_below_f(draw, inspect) -> None:
    decision = next_lot(PLAN, SkipLotState(SKIPPING, 3), d(draw))
    assert (decision.inspect, decision.state, decision.draw) == (inspect, SKIPPING, d(draw))


@pytest.mark.parametrize(
    ("state", "draw", "reason"),
    [
        (SkipLotState(NORMAL, 0), d("0.4"), "skip_lot.draw_unexpected"),
        (SkipLotState(SKIPPING, 3), None, "skip_lot.draw_missing"),
        (SkipLotState(SKIPPING, 3), d("1"), "skip_lot.draw_out_of_range"),
        (SkipLotState(SKIPPING, 3), d("-0.1"), "skip_lot.draw_out_of_range"),
        (SkipLotState(SKIPPING, 3), d("NaN"), "skip_lot.draw_out_of_range"),
    ],
)
def test_a_wrong_draw_is_refused_naming_the_lot(state, draw, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        next_lot(PLAN, state, draw, lot=7)
    assert caught.value.reason == reason
    assert caught.value.message.startswith("Lot 7 ")


def test_replay_refuses_an_inspected_lot_without_an_outcome() -> None:
    with pytest.raises(InvalidInput) as caught:
        replay(PLAN, [ACCEPT, NONE], [None, None])
    assert caught.value.reason == "skip_lot.outcome_missing"
    assert "Lot 2" in caught.value.message


def test_replay_refuses_lists_of_different_lengths() -> None:
    with pytest.raises(InvalidInput) as caught:
        replay(PLAN, [ACCEPT, ACCEPT], [None])
    assert caught.value.reason == "skip_lot.length_mismatch"


@pytest.mark.parametrize(
    ("clearance", "fraction", "reason"),
    [
        (0, "0.5", "skip_lot.clearance_invalid"),
        (-2, "0.5", "skip_lot.clearance_invalid"),
        (3, "0", "skip_lot.fraction_invalid"),
        (3, "1", "skip_lot.fraction_invalid"),  # handbook: 0 < f < 1; f = 1 is not skip-lot
        (3, "1.5", "skip_lot.fraction_invalid"),
        (3, "-0.2", "skip_lot.fraction_invalid"),
        (3, "NaN", "skip_lot.fraction_invalid"),
    ],
)
def test_a_plan_outside_the_handbook_is_refused(clearance, fraction, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        SkipLotPlan(clearance, d(fraction))
    assert caught.value.reason == reason


def test_a_negative_count_of_accepted_lots_is_refused() -> None:
    with pytest.raises(InvalidInput):
        SkipLotState(NORMAL, -1)


def test_make_draw_gives_whole_millionths_in_the_unit_interval() -> None:
    for _ in range(200):
        draw = make_draw()  # secrets.SystemRandom
        assert 0 <= draw < 1
        assert draw.as_tuple().exponent == -DRAW_PLACES
    seeded = [make_draw(random.Random(7)) for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.parametrize(("clearance", "fraction"), [(1, "0.5"), (3, "0.25"), (10, "0.2")])
def test_random_runs_never_skip_in_normal_state_and_inspect_about_f_when_skipping(
    clearance, fraction
) -> None:
    plan = SkipLotPlan(clearance, d(fraction))
    rng = random.Random(20240607 + clearance)
    skipping = inspected_while_skipping = 0
    for _ in range(100):  # sequences
        state = SkipLotState()
        for _ in range(200):  # lots per sequence; ~2 % of lots fail their full panel
            draw = None if state.state is NORMAL else make_draw(rng)
            decision = next_lot(plan, state, draw)
            if decision.state is NORMAL:
                assert decision.inspect
            else:
                skipping += 1
                inspected_while_skipping += decision.inspect
            accepted = not decision.inspect or rng.random() >= 0.02
            state = record_outcome(plan, state, accepted)
    assert skipping > 5_000
    assert abs(inspected_while_skipping / skipping - float(plan.fraction)) < 0.02
