"""The validation pack's pure part and its determinism: the GAMP 5 matrix, the URS, the trace's
verdicts, and the same inputs giving the same bytes."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pypdfium2
import pytest

from labgate.adapters.validation.iq import configuration_hash
from labgate.adapters.validation.pack import build
from labgate.config import Settings
from labgate.service.validation.evidence import CATEGORIES, read_junit
from labgate.service.validation.requirements import ANNEX_11, PART_11, REQUIREMENTS, TRANSACTIONS
from labgate.service.validation.risk import REQUIRED_CATEGORIES, TEST_DEPTH, Level, Risk
from labgate.service.validation.trace import Status, trace

H, M, L = Level.HIGH, Level.MEDIUM, Level.LOW


@pytest.mark.requirement("URS-A11-1")
@pytest.mark.parametrize(
    ("severity", "probability", "risk_class"),
    [
        (H, H, 1),
        (H, M, 1),
        (H, L, 2),
        (M, H, 1),
        (M, M, 2),
        (M, L, 3),
        (L, H, 2),
        (L, M, 3),
        (L, L, 3),
    ],
)
def test_severity_and_probability_give_the_gamp_risk_class(
    severity: Level, probability: Level, risk_class: int
) -> None:
    assert Risk(severity, probability, M).risk_class == risk_class


@pytest.mark.requirement("URS-A11-1")
@pytest.mark.parametrize(
    ("severity", "probability", "detectability", "priority"),
    [
        (H, H, L, H),
        (H, H, M, H),
        (H, H, H, M),
        (H, L, L, H),
        (H, L, M, M),
        (H, L, H, L),
        (L, L, L, M),
        (L, L, M, L),
        (L, L, H, L),
    ],
)
def test_risk_class_and_detectability_give_the_priority_and_its_depth(
    severity: Level, probability: Level, detectability: Level, priority: Level
) -> None:
    risk = Risk(severity, probability, detectability)
    assert risk.priority == priority
    assert risk.as_record()["test_depth"].startswith(
        {H: "rigorous", M: "standard", L: "basic"}[priority]
    )


@pytest.mark.requirement("URS-A11-1")
def test_the_depth_in_words_names_exactly_the_categories_the_pack_checks() -> None:
    assert REQUIRED_CATEGORIES[H] == CATEGORIES
    for level, categories in REQUIRED_CATEGORIES.items():
        words = TEST_DEPTH[level].split(": ", 1)[1]
        named = [c for c in CATEGORIES if c.replace("_", "-") in words]
        assert named == list(categories), level
    assert TEST_DEPTH[M] == "standard: positive and negative tests"


def test_one_requirement_per_transaction_type_and_per_clause() -> None:
    assert (len(TRANSACTIONS), len(PART_11), len(ANNEX_11)) == (10, 18, 18)
    ids = [r.id for r in REQUIREMENTS]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"URS-(TX-\d{3}|P11-11\.[0-9a-z.\-]+|A11-[0-9.\-]+)", i) for i in ids)
    assert {"URS-P11-11.10a", "URS-P11-11.300a-e", "URS-A11-9", "URS-A11-12.1-12.3"} <= set(ids)


def test_the_configuration_and_code_of_each_requirement_exists() -> None:
    missing = [
        (r.id, name)
        for r in REQUIREMENTS
        for name in r.implemented_by
        if not (
            name.removeprefix("Settings.") in Settings.model_fields
            if name.startswith("Settings.")
            else importlib.util.find_spec(name) is not None
        )
    ]
    assert missing == []


def junit(*cases: str, timestamp: str = "2026-11-25T09:00:00.000000+00:00") -> bytes:
    """A JUnit report of these `<testcase>`s."""
    return (
        f'<testsuites><testsuite name="pytest" timestamp="{timestamp}">{"".join(cases)}'
        f"</testsuite></testsuites>"
    ).encode()


def case(name: str, ids: str, outcome: str = "", category: str = "negative") -> str:
    """One traced `<testcase>`; `outcome` is its failure or skipped element, if any."""
    return (
        f'<testcase classname="tests.unit.test_x" name="{name}" time="0.012"><properties>'
        f'<property name="requirements" value="{ids}"/>'
        f'<property name="category" value="{category}"/></properties>{outcome}</testcase>'
    )


IQ = {"document": "IQ", "python": {"version": "3.11", "implementation": "cpython"},
      "os": {"platform": "Linux", "machine": "x86_64"}, "packages": [],
      "database": {"dialect": "sqlite"}, "broker": {"status": "not configured"},
      "configuration_sha256": "0" * 64}  # fmt: skip


def deep(ids: str) -> tuple[str, ...]:
    """One passed `<testcase>` of each category for these ids: the depth of priority H."""
    return tuple(case(f"test_{c}", ids, category=c) for c in CATEGORIES)


@pytest.mark.requirement("URS-A11-4")
def test_the_trace_names_each_gap_failure_unrun_requirement_and_unknown_id() -> None:
    run = read_junit(junit(
        *deep("URS-TX-001 URS-TX-002"),
        case("test_b", "URS-TX-002", '<failure message="no"/>'),
        case("test_c", "URS-TX-003", '<skipped message="later"/>'),
        case("test_d", "URS-TX-999"),
    ))  # fmt: skip
    matrix = trace(TRANSACTIONS[:4], run)
    assert [row.status for row in matrix.rows] == [
        Status.VERIFIED, Status.FAILED, Status.NOT_RUN, Status.GAP
    ]  # fmt: skip
    assert [problem.split(" ")[0] for problem in matrix.problems] == [
        "URS-TX-002", "URS-TX-003", "URS-TX-004", "URS-TX-999:"
    ]  # fmt: skip
    assert "gap: no test carries this requirement id" in matrix.problems[2]


def requirement(priority: Level) -> str:
    """The id of a URS requirement whose risk gives this priority."""
    return next(r.id for r in REQUIREMENTS if r.risk.priority is priority and not r.not_applicable)


@pytest.mark.requirement("URS-A11-4", category="negative")
def test_passed_tests_short_of_the_depth_are_shallow_and_fail_the_pack_naming_what_is_missing() -> (
    None
):
    high, medium = requirement(H), requirement(M)
    run = read_junit(junit(
        case("test_a", f"{high} {medium}", category="positive"),
        case("test_b", high, category="negative"),
        # A skipped test verifies nothing: its category does not count.
        case("test_c", high, '<skipped message="later"/>', category="boundary"),
    ))  # fmt: skip
    chosen = [r for r in REQUIREMENTS if r.id in (high, medium)]
    matrix = trace(chosen, run)
    rows = {row.requirement.id: row for row in matrix.rows}
    assert rows[high].status is Status.SHALLOW and rows[medium].status is Status.SHALLOW
    assert rows[high].missing_categories == ("boundary", "failure_recovery")
    record = rows[high].as_record()
    assert record["categories"] == ["boundary", "negative", "positive"]
    assert record["required_categories"] == list(CATEGORIES)
    assert record["missing_categories"] == ["boundary", "failure_recovery"]
    assert rows[medium].as_record()["missing_categories"] == ["negative"]
    assert any(
        p.startswith(f"{high} (")
        and p.endswith(
            "verified, but not to the depth its risk asks (priority H): missing boundary, "
            "failure_recovery"
        )
        for p in matrix.problems
    ), matrix.problems
    assert any(p.startswith(f"{medium} (") and p.endswith("missing negative")
               for p in matrix.problems)  # fmt: skip


@pytest.mark.requirement("URS-A11-4")
def test_passed_tests_that_make_the_depth_verify_at_each_priority() -> None:
    high, medium, low = requirement(H), requirement(M), requirement(L)
    run = read_junit(junit(
        *deep(high),
        case("test_m_positive", medium, category="positive"),
        case("test_m_negative", medium, category="negative"),
        case("test_l_positive", low, category="positive"),
    ))  # fmt: skip
    matrix = trace([r for r in REQUIREMENTS if r.id in (high, medium, low)], run)
    assert [row.status for row in matrix.rows] == [Status.VERIFIED] * 3
    assert matrix.problems == []
    assert all(row.as_record()["missing_categories"] == [] for row in matrix.rows)


@pytest.mark.requirement("URS-A11-4", category="negative")
def test_a_shallow_requirement_is_shown_in_the_pack_and_its_summary(tmp_path: Path) -> None:
    medium = requirement(M)
    report = junit(case("test_a", medium, category="positive"))
    iq = IQ
    built = build(tmp_path, [r for r in REQUIREMENTS if r.id == medium], report, iq)
    assert built.summary["verdict"] == "fail"
    assert built.summary["counts"]["shallow"] == 1
    assert built.summary["requirements"][0]["missing_categories"] == ["negative"]
    assert [p.split(" ")[0] for p in built.problems] == [medium]
    trace_html = (tmp_path / "trace.html").read_text()
    assert "missing: negative" in trace_html and "positive, negative" in trace_html
    risk_html = (tmp_path / "risk.html").read_text()
    assert "standard: positive and negative tests" in risk_html
    text = "".join(
        page.get_textpage().get_text_range()
        for page in pypdfium2.PdfDocument(tmp_path / "summary.pdf")
    )
    assert "shallow: missing negative" in text and "not to the depth its risk asks" in text


def test_a_requirement_that_does_not_apply_needs_no_test() -> None:
    [biometrics] = [r for r in REQUIREMENTS if r.not_applicable]
    assert biometrics.id == "URS-P11-11.200b"
    assert trace([biometrics], read_junit(junit())).problems == []


def test_the_configuration_hash_hides_secrets_and_sees_settings() -> None:
    def hashed(**values: object) -> str:
        return configuration_hash(Settings(**values).model_dump(mode="json"))  # type: ignore[arg-type]

    url = "postgresql+psycopg://labgate:{}@db/labgate"
    assert hashed(database_url=url.format("one")) == hashed(database_url=url.format("two"))
    assert hashed(amqp_url="amqp://u:one@mq/") == hashed(amqp_url="amqp://u:two@mq/")
    assert hashed(database_url=url.format("one")) != hashed(database_url=url.format("x") + "2")


@pytest.mark.requirement("URS-A11-4", category="boundary")
def test_the_same_run_gives_the_same_bytes_and_sha256sums_covers_every_file(
    tmp_path: Path,
) -> None:
    report = junit(*deep("URS-TX-001 URS-TX-002"))
    iq = IQ
    first = build(tmp_path / "a", TRANSACTIONS[:2], report, iq)
    build(tmp_path / "b", TRANSACTIONS[:2], report, iq)
    assert first.problems == []
    for name in first.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    sums = (tmp_path / "a" / "SHA256SUMS").read_text().splitlines()
    listed = dict(reversed(line.split("  ")) for line in sums)
    assert sorted(listed) == sorted(set(first.files) - {"SHA256SUMS"})
    for name, digest in listed.items():
        assert hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest() == digest
    # The PDF's creation date is when the test run began, not when the pack was built.
    metadata = pypdfium2.PdfDocument(tmp_path / "a" / "summary.pdf").get_metadata_dict()
    assert metadata["CreationDate"].startswith("D:20261125090000")


@pytest.mark.requirement("URS-A11-4", category="failure_recovery")
def test_a_build_interrupted_half_way_is_made_whole_by_building_again(tmp_path: Path) -> None:
    report = junit(*deep("URS-TX-001 URS-TX-002"))
    clean = build(tmp_path / "clean", TRANSACTIONS[:2], report, IQ)
    interrupted = tmp_path / "interrupted"
    build(interrupted, TRANSACTIONS[:2], report, IQ)
    # As a build killed while writing leaves it: a file cut short, one never written.
    pdf = interrupted / "summary.pdf"
    pdf.write_bytes(pdf.read_bytes()[:100])
    (interrupted / "trace.json").unlink()
    again = build(interrupted, TRANSACTIONS[:2], report, IQ)
    assert again.problems == [] and again.files == clean.files
    for name in clean.files:
        assert (interrupted / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    sums = (interrupted / "SHA256SUMS").read_text().splitlines()
    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256((interrupted / name).read_bytes()).hexdigest() == digest
