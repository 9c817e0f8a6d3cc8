"""Specification versions as a master-data document writes them: limit lines in named limit
sets, and sampling plans (domain/sampling.py), each fault naming its JSON path."""

from __future__ import annotations

from typing import Any

from labgate.domain.errors import LabgateError
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import LimitLine, SpecVersion
from labgate.domain.sampling import RELEASE_SET, SamplingPlan, check_plans
from labgate.service.masterdata.fields import Entry, Item, fault, relocate

__all__ = ["SPEC_READ_ONLY", "SPEC_VERSION_FIELDS", "check_version_plans", "spec_version"]

# Written by export; on import accepted only as they are stored, since they change by signature.
SPEC_READ_ONLY = ("status", "approver", "effective_from")
SPEC_VERSION_FIELDS = ("version", "author", "limits", "sampling_plans", *SPEC_READ_ONLY)
_LIMIT = ("test", "limit", "alert", "action", "limit_set")
_PLAN = ("sampling_point", "limit_set", "tests")


def spec_version(item: Item, site: str, specification: str) -> Entry[SpecVersion]:
    """One version: its limit lines (one per test and limit set) and its sampling plans."""
    lines = [_limit_line(line) for line in item.children("limits", _LIMIT)]
    _unique_lines(lines)
    plans = [_plan(plan) for plan in item.children("sampling_plans", _PLAN)]
    # The author stated, if any; bound to the importing account (masterdata.governance).
    author = item.opt_text("author") or ""
    version = SpecVersion(site, specification, item.integer("version", 1), author,
                          [entry.record for entry in lines])  # fmt: skip
    version.plans = plans
    return Entry(item.path, version, _read_only(item))


def check_version_plans(entry: Entry[SpecVersion]) -> None:
    """A version's plans fit its limit sets (run once every test named is known to exist)."""
    try:
        check_plans(entry.record)
    except LabgateError as error:
        raise relocate(error, f"{entry.path}.{error.field or 'sampling_plans'}") from error


def _limit_line(item: Item) -> Entry[LimitLine]:
    limit_set = item.opt_text("limit_set") or RELEASE_SET
    line = LimitLine(item.text("test"), item.text("limit"), item.opt_text("alert"),
                     item.opt_text("action"), limit_set)  # fmt: skip
    try:
        line.rule()
    except LabgateError as error:
        part = (error.field or "limit").rpartition(".")[2]  # limits.ASSAY.alert -> alert
        raise relocate(error, item.at(part)) from error
    return Entry(item.path, line)


def _unique_lines(lines: list[Entry[LimitLine]]) -> None:
    """One line per test within a limit set; the fault is at the second one."""
    seen: set[tuple[str, str]] = set()
    for entry in lines:
        key = (entry.record.limit_set, entry.record.test_code)
        if key in seen:
            message = (
                f"{entry.path} repeats test {key[1]} in limit set {key[0]!r}, which the "
                "version already has."
            )
            raise fault(f"{entry.path}.test", "duplicate", message)
        seen.add(key)


def _plan(item: Item) -> SamplingPlan:
    tests = item.raw.get("tests")
    if not isinstance(tests, list) or not all(isinstance(t, str) and t.strip() for t in tests):
        raise fault(
            item.at("tests"),
            "bad_type",
            f"{item.at('tests')} must be a list of test codes, e.g. [WATER].",
        )
    return SamplingPlan(
        item.text("sampling_point"),
        item.opt_text("limit_set") or RELEASE_SET,
        [t.strip() for t in tests],
    )


def _read_only(item: Item) -> dict[str, Any]:
    """The read-only fields the document states, to be compared with what is stored."""
    declared: dict[str, Any] = {}
    if item.has("status"):
        declared["status"] = item.choice("status", SpecStatus)
    if item.has("approver"):
        declared["approver"] = item.opt_text("approver")
    if item.has("effective_from"):
        declared["effective_from"] = item.moment("effective_from")
    return declared
