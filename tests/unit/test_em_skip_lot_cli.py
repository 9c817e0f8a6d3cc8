"""The `em evaluate` and `skip-lot replay` validation aids, driven through their Typer sub-apps."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from labgate.entrypoints.cli.em import em_app
from labgate.entrypoints.cli.skip_lot import skip_lot_app


def em(*args: str) -> Result:
    return CliRunner().invoke(em_app, ["evaluate", *args])


def skip_lot(*args: str) -> Result:
    return CliRunner().invoke(skip_lot_app, ["replay", *args])


def cell(grade: str, state: str, kind: str, count: str) -> list[str]:
    return ["--grade", grade, "--state", state, "--type", kind, "--count", count]


def test_em_evaluate_prints_the_outcome_and_the_limits_applied() -> None:
    answer = em(*cell("B", "in-operation", "air", "11"), "--json")
    assert answer.exit_code == 0, answer.stderr
    assert json.loads(answer.stdout) == {
        "grade": "B",
        "state": "in-operation",
        "type": "air",
        "count": "11",
        "outcome": "action_exceeded",
        "action": 10,
        "no_growth": False,
        "alert": None,
        "alert_source": None,
        "unit": "CFU/m³",
        "source": "EU GMP Annex 1 (2022) Table 6",
        "notes": ["Table 6 has no state columns; its limits apply at rest and in operation."],
    }


@pytest.mark.parametrize(
    ("args", "outcome", "action", "alert"),
    [
        (cell("A", "at-rest", "particles-0.5", "3520"), "within", 3520, None),
        (cell("C", "in-operation", "particles-5", "29301"), "action_exceeded", 29300, None),
        (cell("D", "in-operation", "particles-0.5", "9999999"), "no_limit", None, None),
        (cell("C", "at-rest", "glove", "3"), "no_limit", None, None),
        (cell("A", "in-operation", "glove", "1"), "action_exceeded", 0, None),
        ([*cell("C", "at-rest", "contact", "13"), "--alert", "12"], "alert_exceeded", 25, 12),
    ],
)
def test_em_evaluate_outcomes(args, outcome, action, alert) -> None:
    report = json.loads(em(*args, "--json").stdout)
    assert (report["outcome"], report["action"], report["alert"]) == (outcome, action, alert)


def test_em_evaluate_without_json_prints_lines_for_a_person() -> None:
    answer = em(*cell("A", "at-rest", "settle", "1"))
    assert answer.exit_code == 0
    assert "Action:  no growth" in answer.stdout
    assert "Outcome: action_exceeded" in answer.stdout


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (cell("E", "at-rest", "air", "1"), ["--grade", "A, B, C, D"]),
        (cell("A", "resting", "air", "1"), ["--state", "at-rest, in-operation"]),
        (cell("A", "at-rest", "swab", "1"), ["--type", "particles-0.5, particles-5"]),
        (cell("A", "at-rest", "air", "-1"), ["--count", "negative"]),
        (cell("A", "at-rest", "air", "lots"), ["--count", "not a decimal number"]),
        (cell("B", "at-rest", "air", "1.5"), ["--count", "whole"]),
        ([*cell("B", "at-rest", "air", "1"), "--alert", "10"], ["alert limit 10", "below"]),
        ([*cell("B", "at-rest", "air", "1"), "--alert", "-3"], ["--alert", "0 or more"]),
    ],
)
def test_em_evaluate_bad_input_exits_2_with_one_sentence(args, names) -> None:
    answer = em(*args, "--json")
    assert answer.exit_code == 2
    assert answer.stdout == ""
    assert answer.stderr.count("\n") == 1 and answer.stderr.rstrip().endswith(".")
    for name in names:
        assert name in answer.stderr


def test_skip_lot_replay_prints_every_lot() -> None:
    answer = skip_lot(
        "--clearance",
        "3",
        "--fraction",
        "0.5",
        "--outcomes",
        "accept,accept,accept,reject,accept,reject,accept",
        "--draws",
        "none, none, none, 0.7, 0.2, 0.1, none",
        "--json",
    )
    assert answer.exit_code == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert (report["clearance"], report["fraction"]) == (3, "0.5")
    assert (report["inspected"], report["skipped"]) == (6, 1)
    lots = [
        (lot["lot"], lot["state"], lot["draw"], lot["inspected"], lot["accepted"])
        for lot in report["lots"]
    ]
    assert lots == [
        (1, "normal", None, True, True),
        (2, "normal", None, True, True),
        (3, "normal", None, True, True),
        (4, "skipping", "0.7", False, True),
        (5, "skipping", "0.2", True, True),
        (6, "skipping", "0.1", True, False),
        (7, "normal", None, True, True),
    ]
    assert report["lots"][3]["reported"] == "reject"


def test_skip_lot_replay_without_json_prints_a_table() -> None:
    answer = skip_lot(
        "--clearance", "1", "--fraction", "0.5", "--outcomes", "accept,-", "--draws", "none,0.9"
    )
    assert answer.exit_code == 0
    assert answer.stdout.splitlines()[2].split() == ["2", "skipping", "0.9", "skipped", "accepted"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["3", "0.5", "accept,accept", "none"], ["2 outcomes", "1 draw"]),
        (["3", "0.5", "accept,maybe", "none,none"], ["--outcomes", "maybe", "lot 2"]),
        (["3", "0.5", "accept", "zero"], ["--draws", "lot 1"]),
        (["3", "1", "accept", "none"], ["fraction", "between 0 and 1"]),
        (["3", "half", "accept", "none"], ["--fraction"]),
        (["0", "0.5", "accept", "none"], ["clearance"]),
        (["1", "0.5", "accept,accept", "none,none"], ["Lot 2", "needs a draw"]),
        (["1", "0.5", "accept", "0.3"], ["Lot 1", "normal inspection"]),
        (["1", "0.5", "accept,accept", "none,1.2"], ["Lot 2", "outside [0, 1)"]),
    ],
)
def test_skip_lot_replay_bad_input_exits_2_with_one_sentence(args, names) -> None:
    clearance, fraction, outcomes, draws = args
    answer = skip_lot(
        "--clearance",
        clearance,
        "--fraction",
        fraction,
        "--outcomes",
        outcomes,
        "--draws",
        draws,
        "--json",
    )
    assert answer.exit_code == 2
    assert answer.stdout == ""
    assert answer.stderr.count("\n") == 1 and answer.stderr.rstrip().endswith(".")
    for name in names:
        assert name in answer.stderr
