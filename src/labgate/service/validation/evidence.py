"""OQ evidence: the executed tests of a JUnit XML report (pytest --junitxml), each with the
requirement ids and category the conftest hook put in its properties."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from xml.etree import ElementTree

CATEGORIES = ("positive", "negative", "boundary", "failure_recovery")


class Outcome(StrEnum):
    """How one test ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ExecutedTest:
    """One test of the run: which requirements it verifies, how, and how it ended."""

    test: str  # "tests.unit.test_x::test_y[case]"
    requirements: tuple[str, ...]
    category: str
    outcome: Outcome
    seconds: str  # as the report wrote it: the pack copies evidence, it does not re-format it

    def as_record(self) -> dict[str, object]:
        """The test as oq.json lists it."""
        return {
            "test": self.test,
            "requirements": list(self.requirements),
            "category": self.category,
            "result": self.outcome.value,
            "time_s": self.seconds,
        }


@dataclass(frozen=True)
class TestRun:
    """A JUnit report: when it ran (from the report itself) and its traced tests."""

    __test__ = False  # not a pytest test class, though its name starts with Test

    started_at: str
    tests: tuple[ExecutedTest, ...]


def read_junit(report: bytes) -> TestRun:
    """The traced tests of a JUnit XML report; tests without requirement ids are left out."""
    root = ElementTree.fromstring(report)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    started = min((suite.get("timestamp", "") for suite in suites), default="")
    tests = [test for suite in suites for test in _traced(suite)]
    return TestRun(started, tuple(sorted(tests, key=lambda test: test.test)))


def _traced(suite: ElementTree.Element) -> list[ExecutedTest]:
    executed = []
    for case in suite.iter("testcase"):
        properties = {item.get("name", ""): item.get("value", "") for item in case.iter("property")}
        if not properties.get("requirements"):
            continue
        executed.append(
            ExecutedTest(
                test=f"{case.get('classname', '')}::{case.get('name', '')}",
                requirements=tuple(properties["requirements"].split()),
                category=properties.get("category", "positive"),
                outcome=_outcome(case),
                seconds=case.get("time", "0"),
            )
        )
    return executed


def _outcome(case: ElementTree.Element) -> Outcome:
    if case.find("failure") is not None or case.find("error") is not None:
        return Outcome.FAILED
    if case.find("skipped") is not None:
        return Outcome.SKIPPED
    return Outcome.PASSED
