"""Environmental-monitoring limits: every cell of EU GMP Annex 1 (2022) Tables 5 and 6, and the
evaluation of one count against them.

The expected figures below are typed from the Annex text, not from the module: EU GMP Annex 1
(2022), "Manufacture of Sterile Medicinal Products", Table 5 (clause 9.15, "Maximum permitted total
particle concentration for monitoring") and Table 6 (clause 9.30, "Maximum action limits for viable
particle contamination"); the same text is PIC/S PE 009-17 Annex 1.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from labgate.domain.em_limits import (
    ANNEX1_2022,
    CleanroomGrade,
    EmLimit,
    EmLimitTable,
    EmOutcome,
    EmSampleType,
    OperationalState,
    evaluate_count,
    parse_count,
    parse_grade,
    parse_sample_type,
    parse_state,
)
from labgate.domain.errors import InvalidInput

A, B, C, D = CleanroomGrade
REST, OPERATION = OperationalState.AT_REST, OperationalState.IN_OPERATION
AIR, SETTLE, CONTACT, GLOVE = (
    EmSampleType.AIR,
    EmSampleType.SETTLE,
    EmSampleType.CONTACT,
    EmSampleType.GLOVE,
)
P05, P5 = EmSampleType.PARTICLES_0_5, EmSampleType.PARTICLES_5

# Annex 1 (2022) Table 5, particles/m³; None is "Not predetermined (a)".
TABLE_5 = {
    # grade: (>= 0.5 µm at rest, >= 0.5 µm in operation, >= 5 µm at rest, >= 5 µm in operation)
    A: (3520, 3520, 29, 29),
    B: (3520, 352000, 29, 2930),
    C: (352000, 3520000, 2930, 29300),
    D: (3520000, None, 29300, None),
}
# Annex 1 (2022) Table 6; 0 is "No growth (c)", None is "-" (not specified).
TABLE_6 = {
    # grade: (air CFU/m³, settle plate 90 mm CFU/4 hours, contact plate 55 mm CFU/plate,
    #         glove print incl. 5 fingers on both hands CFU/glove)
    A: (0, 0, 0, 0),
    B: (10, 5, 5, 5),
    C: (100, 50, 25, None),
    D: (200, 100, 50, None),
}

TABLE_5_CELLS = [
    (grade, state, kind, row[column])
    for grade, row in TABLE_5.items()
    for column, (kind, state) in enumerate(
        [(P05, REST), (P05, OPERATION), (P5, REST), (P5, OPERATION)]
    )
]
TABLE_6_CELLS = [
    (grade, state, kind, action)
    for grade, row in TABLE_6.items()
    for kind, action in zip((AIR, SETTLE, CONTACT, GLOVE), row, strict=True)
    for state in (REST, OPERATION)  # Table 6 has no state columns: one row for both (9.23)
]
UNITS = {
    AIR: "CFU/m³",
    SETTLE: "CFU/4 hours",
    CONTACT: "CFU/plate",
    GLOVE: "CFU/glove",
    P05: "particles/m³",
    P5: "particles/m³",
}


@pytest.mark.parametrize(("grade", "state", "kind", "action"), TABLE_5_CELLS)
def test_every_table_5_cell_matches_annex_1(grade, state, kind, action) -> None:
    cell = ANNEX1_2022.limit(grade, state, kind)
    assert cell.action == action
    assert cell.alert is None  # alert levels are the site's (9.9): no shipped defaults
    assert cell.unit == "particles/m³"
    assert cell.source == "EU GMP Annex 1 (2022) Table 5"


@pytest.mark.parametrize(("grade", "state", "kind", "action"), TABLE_6_CELLS)
def test_every_table_6_cell_matches_annex_1(grade, state, kind, action) -> None:
    cell = ANNEX1_2022.limit(grade, state, kind)
    assert cell.action == action
    assert cell.alert is None
    assert cell.unit == UNITS[kind]
    assert cell.source == "EU GMP Annex 1 (2022) Table 6"
    assert cell.no_growth is (grade is A)


def test_the_default_table_has_exactly_the_annex_cells() -> None:
    assert len(ANNEX1_2022.limits) == len(TABLE_5_CELLS) + len(TABLE_6_CELLS) == 48


@pytest.mark.parametrize(
    ("grade", "state", "kind", "action"),
    [cell for cell in TABLE_5_CELLS + TABLE_6_CELLS if cell[3] is not None],
)
def test_a_count_equal_to_the_maximum_is_within_and_one_more_exceeds_it(
    grade, state, kind, action
) -> None:
    at_limit = evaluate_count(ANNEX1_2022, grade, state, kind, action)
    above = evaluate_count(ANNEX1_2022, grade, state, kind, action + 1)
    assert at_limit.outcome is EmOutcome.WITHIN
    assert not at_limit.needs_investigation
    assert above.outcome is EmOutcome.ACTION_EXCEEDED
    assert above.needs_investigation


@pytest.mark.parametrize("kind", [AIR, SETTLE, CONTACT, GLOVE])
@pytest.mark.parametrize("state", [REST, OPERATION])
def test_grade_a_no_growth_makes_one_colony_an_action_excursion(state, kind) -> None:
    assert evaluate_count(ANNEX1_2022, A, state, kind, 0).outcome is EmOutcome.WITHIN
    one = evaluate_count(ANNEX1_2022, A, state, kind, 1)
    assert one.outcome is EmOutcome.ACTION_EXCEEDED
    assert any("any growth should result in an investigation" in n for n in one.limit.notes)


@pytest.mark.parametrize(
    ("grade", "state", "kind"),
    [
        (D, OPERATION, P05),
        (D, OPERATION, P5),
        (C, REST, GLOVE),
        (C, OPERATION, GLOVE),
        (D, REST, GLOVE),
        (D, OPERATION, GLOVE),
    ],
)
def test_not_predetermined_and_not_specified_cells_have_no_limit(grade, state, kind) -> None:
    for count in (0, 10**9):
        outcome = evaluate_count(ANNEX1_2022, grade, state, kind, count)
        assert outcome.outcome is EmOutcome.NO_LIMIT
        assert outcome.limit.action is None


def test_grade_d_in_operation_names_footnote_a() -> None:
    notes = ANNEX1_2022.limit(D, OPERATION, P05).notes
    assert any("in operation limits are not predetermined" in n for n in notes)


def test_a_particle_concentration_may_be_fractional() -> None:
    # 20 counts in 0.7 m³ is 28.57 particles/m³; Table 5 grade A >= 5 µm allows 29.
    assert evaluate_count(ANNEX1_2022, A, OPERATION, P5, Decimal("28.57")).outcome is (
        EmOutcome.WITHIN
    )
    assert evaluate_count(ANNEX1_2022, A, OPERATION, P5, Decimal("29.01")).outcome is (
        EmOutcome.ACTION_EXCEEDED
    )


def test_an_alert_override_warns_before_the_action_limit() -> None:
    def outcome(count: int) -> EmOutcome:
        return evaluate_count(ANNEX1_2022, B, OPERATION, AIR, count, alert_override=5).outcome

    assert [outcome(n) for n in (0, 5, 6, 10, 11)] == [
        EmOutcome.WITHIN,
        EmOutcome.WITHIN,
        EmOutcome.ALERT_EXCEEDED,
        EmOutcome.ALERT_EXCEEDED,
        EmOutcome.ACTION_EXCEEDED,
    ]
    result = evaluate_count(ANNEX1_2022, B, OPERATION, AIR, 6, alert_override=5)
    assert (result.alert, result.alert_source, result.limit.action) == (5, "override", 10)


@pytest.mark.parametrize("alert", [10, 11])
def test_an_alert_at_or_above_the_action_limit_is_refused(alert: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate_count(ANNEX1_2022, B, OPERATION, AIR, 3, alert_override=alert)
    assert caught.value.reason == "em.alert_not_below_action"
    assert caught.value.field == "alert"


def test_grade_a_viable_cells_take_no_alert_level() -> None:
    # No growth leaves no room below it; Annex 1 9.10 sets grade A alert levels for particles.
    with pytest.raises(InvalidInput, match=r"\(9\.10\)"):
        evaluate_count(ANNEX1_2022, A, OPERATION, SETTLE, 0, alert_override=0)


def test_an_alert_may_stand_where_no_action_limit_is_predetermined() -> None:
    result = evaluate_count(ANNEX1_2022, D, OPERATION, P05, 5_000_000, alert_override=4_000_000)
    assert result.outcome is EmOutcome.ALERT_EXCEEDED


def test_a_site_table_replaces_the_defaults_cell_by_cell() -> None:
    tightened = EmLimit(B, OPERATION, AIR, 8, 4, "CFU/m³", "Site X EM limits v3")
    site = ANNEX1_2022.replaced("Site X EM limits v3", [tightened])
    result = evaluate_count(site, B, OPERATION, AIR, 5)
    assert (result.outcome, result.alert, result.alert_source) == (
        EmOutcome.ALERT_EXCEEDED,
        4,
        "Site X EM limits v3",
    )
    assert evaluate_count(site, B, OPERATION, AIR, 9).outcome is EmOutcome.ACTION_EXCEEDED
    assert site.limit(C, OPERATION, AIR) == ANNEX1_2022.limit(C, OPERATION, AIR)
    assert ANNEX1_2022.limit(B, OPERATION, AIR).action == 10  # the default is untouched


def test_a_table_with_a_missing_cell_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        EmLimitTable("partial", ANNEX1_2022.limits[1:])
    assert caught.value.reason == "em.table_incomplete"


def test_a_table_with_a_duplicate_cell_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        EmLimitTable("twice", (*ANNEX1_2022.limits, ANNEX1_2022.limits[0]))
    assert caught.value.reason == "em.table_duplicate"


def test_a_limit_with_its_alert_not_below_its_action_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        EmLimit(C, REST, AIR, 100, 100, "CFU/m³", "site")
    assert caught.value.reason == "em.alert_not_below_action"


@pytest.mark.parametrize(
    ("count", "kind", "reason"),
    [
        (-1, AIR, "em.count_negative"),
        (Decimal("-0.5"), P05, "em.count_negative"),
        (Decimal("1.5"), SETTLE, "em.count_not_whole"),
        (Decimal("NaN"), P05, "em.count_invalid"),
        (10**18, P05, "em.count_too_long"),  # 19 digits: the API's schema allows 18
        (Decimal("1.000000000000000000"), AIR, "em.count_too_long"),
        (Decimal("1E+18"), P05, "em.count_too_long"),
    ],
)
def test_a_bad_count_is_refused_with_its_reason(count, kind, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate_count(ANNEX1_2022, C, REST, kind, count)
    assert (caught.value.reason, caught.value.field) == (reason, "count")


def test_the_longest_count_allowed_has_18_digits() -> None:
    assert parse_count("999999999999999999", P05) == Decimal(10**18 - 1)


def test_parse_count_reads_text_and_names_the_option() -> None:
    assert parse_count("3", AIR) == 3
    with pytest.raises(InvalidInput, match="--count"):
        parse_count("-2", AIR, "--count")


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_grade, " b ", B),
        (parse_state, "In_Operation", OPERATION),
        (parse_state, "at rest", REST),
        (parse_sample_type, "Particles-0.5", P05),
    ],
)
def test_choices_are_read_forgivingly(parse, text, expected) -> None:
    assert parse(text) is expected


@pytest.mark.parametrize(
    ("parse", "text", "reason", "accepted"),
    [
        (parse_grade, "E", "em.grade_unknown", "A, B, C, D"),
        (parse_state, "resting", "em.state_unknown", "at-rest, in-operation"),
        (parse_sample_type, "swab", "em.type_unknown", "air, settle, contact, glove"),
    ],
)
def test_an_unknown_choice_names_the_accepted_values(parse, text, reason, accepted) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    assert caught.value.reason == reason
    assert accepted in caught.value.message
