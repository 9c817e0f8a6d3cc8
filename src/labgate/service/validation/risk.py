"""GAMP 5 risk assessment: severity x probability gives a risk class, the risk class x
detectability gives a priority, and the priority sets how deeply a requirement is tested."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from labgate.service.validation.evidence import CATEGORIES


class Level(StrEnum):
    """High, medium or low: the scale of severity, probability, detectability and priority."""

    HIGH = "H"
    MEDIUM = "M"
    LOW = "L"


H, M, L = Level.HIGH, Level.MEDIUM, Level.LOW

# GAMP 5 (2nd ed., appendix M3), step 1: how bad x how likely -> risk class (1 is the worst).
#                 probability:  H  M  L
#   severity H                  1  1  2
#   severity M                  1  2  3
#   severity L                  2  3  3
RISK_CLASS: dict[tuple[Level, Level], int] = {
    (H, H): 1, (H, M): 1, (H, L): 2,
    (M, H): 1, (M, M): 2, (M, L): 3,
    (L, H): 2, (L, M): 3, (L, L): 3,
}  # fmt: skip

# Step 2: risk class x detectability -> priority. A failure the plant would notice anyway
# (high detectability) lowers the priority; one nobody would notice (low) raises it.
#                 detectability:  L  M  H
#   class 1                       H  H  M
#   class 2                       H  M  L
#   class 3                       M  L  L
PRIORITY: dict[tuple[int, Level], Level] = {
    (1, L): H, (1, M): H, (1, H): M,
    (2, L): H, (2, M): M, (2, H): L,
    (3, L): M, (3, M): L, (3, H): L,
}  # fmt: skip

# What a priority asks of the OQ: the categories of tests that make the depth. The trace checks
# these, and TEST_DEPTH's words are made from them, so what the pack prints is what it checks.
POSITIVE, NEGATIVE, BOUNDARY, FAILURE_RECOVERY = CATEGORIES
REQUIRED_CATEGORIES: dict[Level, tuple[str, ...]] = {
    H: (POSITIVE, NEGATIVE, BOUNDARY, FAILURE_RECOVERY),
    M: (POSITIVE, NEGATIVE),
    L: (POSITIVE,),
}
_DEPTH_NAME = {H: "rigorous", M: "standard", L: "basic"}


def _depth_words(level: Level) -> str:
    """ "rigorous: positive, negative, boundary and failure-recovery tests", "basic: a positive
    test": the depth's name and its categories in words."""
    words = [category.replace("_", "-") for category in REQUIRED_CATEGORIES[level]]
    if len(words) == 1:
        return f"{_DEPTH_NAME[level]}: a {words[0]} test"
    return f"{_DEPTH_NAME[level]}: {', '.join(words[:-1])} and {words[-1]} tests"


TEST_DEPTH: dict[Level, str] = {level: _depth_words(level) for level in Level}


@dataclass(frozen=True)
class Risk:
    """One requirement's assessment: the three factors as judged."""

    severity: Level
    probability: Level
    detectability: Level

    @property
    def risk_class(self) -> int:
        """1, 2 or 3 from severity and probability."""
        return RISK_CLASS[(self.severity, self.probability)]

    @property
    def priority(self) -> Level:
        """H, M or L from the risk class and detectability."""
        return PRIORITY[(self.risk_class, self.detectability)]

    @property
    def test_depth(self) -> str:
        """The depth of testing the priority asks for."""
        return TEST_DEPTH[self.priority]

    @property
    def required_categories(self) -> tuple[str, ...]:
        """The categories of passed tests the priority asks for."""
        return REQUIRED_CATEGORIES[self.priority]

    def as_record(self) -> dict[str, object]:
        """The assessment with its results, as the pack prints it."""
        return {
            "severity": self.severity.value,
            "probability": self.probability.value,
            "detectability": self.detectability.value,
            "risk_class": self.risk_class,
            "priority": self.priority.value,
            "test_depth": self.test_depth,
            "required_categories": list(self.required_categories),
        }
