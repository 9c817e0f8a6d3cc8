"""Environmental-monitoring limits per cleanroom grade, and the evaluation of one count.

The shipped defaults are EU GMP Annex 1 (2022), "Manufacture of Sterile Medicinal Products":
Table 5 (maximum permitted total particle concentration for monitoring, clause 9.15) and Table 6
(maximum action limits for viable particle contamination, clause 9.30). A site replaces or
tightens them under change control with its own `EmLimitTable` (9.9: "more stringent action
limits may be applied"); alert levels have no shipped defaults, because 9.9 has them established
from the site's qualification and trend data.

Every limit in the Annex is a maximum, so a count *exceeds* it only when it is greater than the
limit: "Action limit - ... that, when exceeded, should trigger appropriate investigation" (Annex 1,
Glossary) against a table of "maximum permitted" values. A count equal to the limit is within.
"No growth" (Table 6, grade A) is held as an action limit of 0 CFU: any growth, one colony or
more, exceeds it, as footnote (c) says ("for grade A, any growth should result in an
investigation").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from labgate.domain.errors import InvalidInput
from labgate.domain.numbers import parse_decimal, to_plain

__all__ = [
    "ANNEX1_2022",
    "TABLE_5",
    "TABLE_6",
    "UNITS",
    "CleanroomGrade",
    "EmEvaluation",
    "EmLimit",
    "EmLimitTable",
    "EmOutcome",
    "EmSampleType",
    "OperationalState",
    "check_alert_below_action",
    "check_count",
    "evaluate_count",
    "parse_count",
    "parse_grade",
    "parse_sample_type",
    "parse_state",
    "parse_whole",
]


class CleanroomGrade(StrEnum):
    """The four EU GMP cleanroom grades."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class OperationalState(StrEnum):
    """The occupancy state a limit applies to (Annex 1, 4.29 defines both)."""

    AT_REST = "at-rest"
    IN_OPERATION = "in-operation"


class EmSampleType(StrEnum):
    """What was sampled: four viable methods (CFU) and two total-particle sizes."""

    AIR = "air"
    SETTLE = "settle"
    CONTACT = "contact"
    GLOVE = "glove"
    PARTICLES_0_5 = "particles-0.5"
    PARTICLES_5 = "particles-5"

    @property
    def is_viable(self) -> bool:
        """Whether the result is a colony count (whole CFU), not a particle concentration."""
        return self not in (EmSampleType.PARTICLES_0_5, EmSampleType.PARTICLES_5)


class EmOutcome(StrEnum):
    """Where one count sits against its limits; action outranks alert."""

    WITHIN = "within"
    ALERT_EXCEEDED = "alert_exceeded"
    ACTION_EXCEEDED = "action_exceeded"
    NO_LIMIT = "no_limit"


UNITS = {
    EmSampleType.AIR: "CFU/m³",
    EmSampleType.SETTLE: "CFU/4 hours",
    EmSampleType.CONTACT: "CFU/plate",
    EmSampleType.GLOVE: "CFU/glove",
    EmSampleType.PARTICLES_0_5: "particles/m³",
    EmSampleType.PARTICLES_5: "particles/m³",
}


@dataclass(frozen=True)
class EmLimit:
    """One cell of a limit table; `action=None` means the source sets no limit for the cell."""

    grade: CleanroomGrade
    state: OperationalState
    sample_type: EmSampleType
    action: int | None
    alert: int | None
    unit: str
    source: str
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse negative limits and an alert level that is not below its action limit."""
        for name, value in (("action", self.action), ("alert", self.alert)):
            if value is not None and value < 0:
                raise InvalidInput(
                    f"The {name} limit {value} for {self.describe()} is negative; "
                    "limits are counts of 0 or more.",
                    reason=f"em.{name}_negative",
                    field=name,
                )
        check_alert_below_action(self.alert, self)

    @property
    def no_growth(self) -> bool:
        """Whether the action limit is "No growth": any colony is an action excursion."""
        return self.action == 0 and self.sample_type.is_viable

    def describe(self) -> str:
        """Name the cell in words, e.g. "grade B in-operation air"."""
        return f"grade {self.grade.value} {self.state.value} {self.sample_type.value}"


def check_alert_below_action(alert: int | None, cell: EmLimit) -> None:
    """An alert level warns before the action limit; one at or above it can never fire first."""
    if alert is None or cell.action is None or alert < cell.action:
        return
    hint = (
        " Table 6 sets grade A viable limits at no growth, so Annex 1 (9.10) sets grade A "
        "alert levels for total particles only."
        if cell.no_growth
        else ""
    )
    raise InvalidInput(
        f"The alert limit {alert} for {cell.describe()} must be below its action limit "
        f"{cell.action} ({cell.source}).{hint}",
        reason="em.alert_not_below_action",
        field="alert",
    )


_E = TypeVar("_E", bound=StrEnum)
_Key = tuple[CleanroomGrade, OperationalState, EmSampleType]


@dataclass(frozen=True)
class EmLimitTable:
    """A complete set of limits: one entry per grade, state and sample type."""

    name: str
    limits: tuple[EmLimit, ...]
    _index: dict[_Key, EmLimit] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the cells, refusing a duplicate or a missing one: a gap must be explicit."""
        index: dict[_Key, EmLimit] = {}
        for cell in self.limits:
            key = (cell.grade, cell.state, cell.sample_type)
            if key in index:
                raise InvalidInput(
                    f"The limit table {self.name!r} has two entries for {cell.describe()}; "
                    "keep one.",
                    reason="em.table_duplicate",
                    field="limits",
                )
            index[key] = cell
        missing = [k for k in _all_keys() if k not in index]
        if missing:
            grade, state, kind = missing[0]
            raise InvalidInput(
                f"The limit table {self.name!r} has no entry for grade {grade.value} "
                f"{state.value} {kind.value} ({len(missing)} missing); write action=None "
                "where no limit applies.",
                reason="em.table_incomplete",
                field="limits",
            )
        object.__setattr__(self, "_index", index)

    def limit(
        self, grade: CleanroomGrade, state: OperationalState, sample_type: EmSampleType
    ) -> EmLimit:
        """The cell for a grade, state and sample type."""
        return self._index[(grade, state, sample_type)]

    def replaced(self, name: str, cells: Iterable[EmLimit]) -> EmLimitTable:
        """A new table, e.g. a site's under change control, with some cells replaced."""
        changes = {(c.grade, c.state, c.sample_type): c for c in cells}
        return EmLimitTable(name, tuple(changes.get(k, self._index[k]) for k in _all_keys()))


def _all_keys() -> list[_Key]:
    """Every (grade, state, sample type) a complete table covers, in a stable order."""
    return [(g, s, t) for g in CleanroomGrade for s in OperationalState for t in EmSampleType]


@dataclass(frozen=True)
class EmEvaluation:
    """One count judged against one cell, with the limits applied and where they came from."""

    outcome: EmOutcome
    count: Decimal
    limit: EmLimit
    alert: int | None
    alert_source: str | None

    @property
    def needs_investigation(self) -> bool:
        """An action excursion: root cause, product impact and CAPA (Annex 1, 9.13); a deviation."""
        return self.outcome is EmOutcome.ACTION_EXCEEDED


def evaluate_count(
    table: EmLimitTable,
    grade: CleanroomGrade,
    state: OperationalState,
    sample_type: EmSampleType,
    count: int | Decimal,
    alert_override: int | None = None,
) -> EmEvaluation:
    """Judge one count against the table's cell; an override replaces the cell's alert level."""
    cell = table.limit(grade, state, sample_type)
    value = check_count(count, sample_type)
    if alert_override is not None:
        check_alert_below_action(parse_whole(alert_override, "alert"), cell)
    alert = cell.alert if alert_override is None else alert_override
    source = _alert_source(cell, alert_override)
    return EmEvaluation(_outcome(value, cell.action, alert), value, cell, alert, source)


def _alert_source(cell: EmLimit, alert_override: int | None) -> str | None:
    """Say where the alert level came from: the override, the table, or nowhere."""
    if alert_override is not None:
        return "override"
    return None if cell.alert is None else cell.source


def _outcome(count: Decimal, action: int | None, alert: int | None) -> EmOutcome:
    """Place a count: greater than a maximum exceeds it, equal to it is within."""
    if action is not None and count > action:
        return EmOutcome.ACTION_EXCEEDED
    if alert is not None and count > alert:
        return EmOutcome.ALERT_EXCEEDED
    if action is None and alert is None:
        return EmOutcome.NO_LIMIT
    return EmOutcome.WITHIN


# As the API's body schema (max_digits=18): the same rule from every entry point.
COUNT_DIGITS = 18


def _digits(value: Decimal) -> int:
    """The digits a value is written with, as pydantic counts them (1E+20 has 21)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # a finite value
    return len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)


def check_count(count: int | Decimal, sample_type: EmSampleType, label: str = "count") -> Decimal:
    """Refuse a negative or non-finite count, and a fraction of a colony for a CFU count."""
    value = Decimal(count)
    if not value.is_finite():
        raise InvalidInput(
            f"The {label} {count} is not a finite number.", reason="em.count_invalid", field="count"
        )
    if value < 0:
        raise InvalidInput(
            f"The {label} {to_plain(value)} is negative; a count is 0 or more.",
            reason="em.count_negative",
            field="count",
        )
    if _digits(value) > COUNT_DIGITS:
        raise InvalidInput(
            f"The {label} has more than {COUNT_DIGITS} digits; no plate or counter reads that.",
            reason="em.count_too_long",
            field="count",
        )
    if sample_type.is_viable and value != value.to_integral_value():
        raise InvalidInput(
            f"The {label} {to_plain(value)} is not a whole number; a {sample_type.value} "
            "sample is counted in whole colony-forming units (CFU).",
            reason="em.count_not_whole",
            field="count",
        )
    return value


def parse_count(text: str, sample_type: EmSampleType, label: str = "count") -> Decimal:
    """Read a count as written, e.g. "3" CFU or "3520" particles/m³, and check it."""
    return check_count(parse_decimal(text, label), sample_type, label)


def parse_whole(value: int | str, label: str = "alert") -> int:
    """Read an alert or action limit: a whole number of 0 or more."""
    number = parse_decimal(value, label) if isinstance(value, str) else Decimal(value)
    if number < 0 or number != number.to_integral_value():
        raise InvalidInput(
            f"The {label} {value} is not a whole number of 0 or more.",
            reason="em.limit_invalid",
            field=label.lstrip("-"),
        )
    return int(number)


def parse_grade(text: str, label: str = "grade") -> CleanroomGrade:
    """Read a grade ("A" to "D", any case), naming the accepted ones when it is unknown."""
    return _parse_choice(CleanroomGrade, text.strip().upper(), text, label, "grade")


def parse_state(text: str, label: str = "state") -> OperationalState:
    """Read "at-rest" or "in-operation" (case, spaces and underscores forgiven)."""
    normal = "-".join(text.strip().lower().replace("_", " ").split())
    return _parse_choice(OperationalState, normal, text, label, "state")


def parse_sample_type(text: str, label: str = "type") -> EmSampleType:
    """Read a sample type such as "settle" or "particles-0.5"."""
    return _parse_choice(EmSampleType, text.strip().lower(), text, label, "type")


def _parse_choice(enum: type[_E], normal: str, text: str, label: str, kind: str) -> _E:
    """Look a normalised value up in an enum, or say which values it accepts."""
    try:
        return enum(normal)
    except ValueError:
        names = ", ".join(member.value for member in enum)
        raise InvalidInput(
            f"The {label} {text!r} is unknown; use one of {names}.",
            reason=f"em.{kind}_unknown",
            field=kind,
        ) from None


# --- The shipped defaults: EU GMP Annex 1 (2022) ------------------------------------------------

TABLE_5 = "EU GMP Annex 1 (2022) Table 5"
TABLE_6 = "EU GMP Annex 1 (2022) Table 6"

_G = CleanroomGrade
_REST, _OPERATION = OperationalState.AT_REST, OperationalState.IN_OPERATION

# Table 5, clause 9.15: maximum permitted total particle concentration for monitoring, particles/m³.
# None is "Not predetermined (a)": grade D in operation.
_TABLE_5: dict[tuple[CleanroomGrade, OperationalState], tuple[int | None, int | None]] = {
    # (grade, state): (>= 0.5 µm, >= 5 µm)
    (_G.A, _REST): (3_520, 29),
    (_G.A, _OPERATION): (3_520, 29),
    (_G.B, _REST): (3_520, 29),
    (_G.B, _OPERATION): (352_000, 2_930),
    (_G.C, _REST): (352_000, 2_930),
    (_G.C, _OPERATION): (3_520_000, 29_300),
    (_G.D, _REST): (3_520_000, 29_300),
    (_G.D, _OPERATION): (None, None),
}

# Table 6, clause 9.30: maximum action limits for viable particle contamination.
# 0 is "No growth (c)"; None is "-" (glove prints in grades C and D are not specified).
# Table 6 has no at-rest / in-operation columns, and 9.23 asks for viable monitoring also
# "when normal manufacturing operations are not occurring", so one row serves both states
# (Table 2, 4.31, sets the same figures for qualification "at rest" and "in operation").
_TABLE_6: dict[CleanroomGrade, tuple[int, int, int, int | None]] = {
    # grade: (air CFU/m³, settle 90 mm CFU/4 h, contact 55 mm CFU/plate, glove CFU/glove)
    _G.A: (0, 0, 0, 0),
    _G.B: (10, 5, 5, 5),
    _G.C: (100, 50, 25, None),
    _G.D: (200, 100, 50, None),
}

_NOTE_AT_REST = (
    "Table 5 Note 1: at-rest limits should be met after a short clean-up period defined in "
    "qualification (guidance value under 20 minutes), unmanned, after operations (4.29)."
)
_NOTE_D_IN_OPERATION = (
    "Table 5 (a): for grade D, in operation limits are not predetermined; the manufacturer "
    "should establish them from a risk assessment and routine data (see also 9.12)."
)
_NOTE_GRADE_A_5UM = (
    "Table 5 Note 2: occasional >= 5 µm counts in grade A may be false counts; consecutive or "
    "regular counting of low levels may indicate contamination and should be investigated."
)
_NOTE_NO_GROWTH = (
    "Table 6 (c): no growth; for grade A any growth should result in an investigation."
)
_NOTE_SETTLE = (
    "Table 6 (a): a settle plate (90 mm) is exposed for at most 4 hours; individual plates "
    "may be exposed for less."
)
_NOTE_CONTACT = (
    "Table 6 (b): contact plate limits apply to equipment, room and gown surfaces in grades A "
    "and B; routine gown monitoring is not normally required in grades C and D."
)
_NOTE_GLOVE_NOT_SPECIFIED = "Table 6: no glove print limit is specified for grades C and D ('-')."
_NOTE_VIABLE_STATES = "Table 6 has no state columns; its limits apply at rest and in operation."


def _particle_cells() -> list[EmLimit]:
    """Table 5 as cells, with the footnotes that qualify each one."""
    cells = []
    for (grade, state), (small, large) in _TABLE_5.items():
        for kind, action in (
            (EmSampleType.PARTICLES_0_5, small),
            (EmSampleType.PARTICLES_5, large),
        ):
            notes = [_NOTE_AT_REST] if state is _REST else []
            if action is None:
                notes.append(_NOTE_D_IN_OPERATION)
            if grade is _G.A and kind is EmSampleType.PARTICLES_5:
                notes.append(_NOTE_GRADE_A_5UM)
            cells.append(
                EmLimit(grade, state, kind, action, None, UNITS[kind], TABLE_5, tuple(notes))
            )
    return cells


def _viable_cells() -> list[EmLimit]:
    """Table 6 as cells, repeated for both states, with the footnotes that qualify each one."""
    kinds = (EmSampleType.AIR, EmSampleType.SETTLE, EmSampleType.CONTACT, EmSampleType.GLOVE)
    cells = []
    for grade, actions in _TABLE_6.items():
        for kind, action in zip(kinds, actions, strict=True):
            notes = [_NOTE_VIABLE_STATES, *_viable_notes(grade, kind, action)]
            for state in OperationalState:
                cells.append(
                    EmLimit(grade, state, kind, action, None, UNITS[kind], TABLE_6, tuple(notes))
                )
    return cells


def _viable_notes(grade: CleanroomGrade, kind: EmSampleType, action: int | None) -> list[str]:
    """The Table 6 footnotes that apply to one cell."""
    notes = []
    if action == 0:
        notes.append(_NOTE_NO_GROWTH)
    if action is None:
        notes.append(_NOTE_GLOVE_NOT_SPECIFIED)
    if kind is EmSampleType.SETTLE:
        notes.append(_NOTE_SETTLE)
    if kind is EmSampleType.CONTACT:
        notes.append(_NOTE_CONTACT)
    return notes


ANNEX1_2022 = EmLimitTable("EU GMP Annex 1 (2022)", (*_particle_cells(), *_viable_cells()))
"""The shipped default: Annex 1 Tables 5 and 6 as action limits, with no alert levels (9.9)."""
