"""`labgate evaluate` driven as a user would: through Typer, and once in a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from labgate.entrypoints.cli.evaluate import evaluate

SRC = Path(__file__).resolve().parents[2] / "src"

# main.py is another module's; this builds the same shape: a group with `evaluate` registered.
APP_SOURCE = """
import typer
from labgate.entrypoints.cli.evaluate import evaluate

app = typer.Typer()


@app.callback()
def labgate() -> None:
    '''labgate.'''


app.command("evaluate")(evaluate)
app(prog_name="labgate")
"""


def build_app() -> typer.Typer:
    """Register the command on a throwaway app, as main.py does."""
    app = typer.Typer()

    @app.callback()
    def labgate() -> None:
        """labgate."""

    app.command("evaluate")(evaluate)
    return app


def run(*args: str) -> tuple[int, str, str]:
    """Invoke `labgate evaluate ARGS` in-process; return exit code, stdout and stderr."""
    result = CliRunner().invoke(build_app(), ["evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


def run_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `labgate evaluate ARGS` in a fresh interpreter, whether or not labgate is installed."""
    path = [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-c", APP_SOURCE, "evaluate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--rule", "usp", "--limit", "NLT 98.0", "--value", "97.96"],
            {
                "rule": "usp",
                "sig_figs": None,
                "limit": "NLT 98.0",
                "value": "97.96",
                "reported": "98.0",
                "compared": "98.0",
                "conforms": True,
                "band": "none",
                "rounding": "USP <7.20>: round half up to 1 decimal place",
            },
        ),
        (
            ["--rule", "astm-e29", "--limit", "nlt 98.0", "--value", "97.85"],
            {
                "rule": "astm-e29",
                "sig_figs": None,
                "limit": "NLT 98.0",
                "value": "97.85",
                "reported": "97.8",
                "compared": "97.8",
                "conforms": False,
                "band": "none",
                "rounding": "ASTM E29 rounding method: round half to even to 1 decimal place",
            },
        ),
        (
            ["--rule", "absolute", "--limit", ">= 98.0", "--value", "97.99"],
            {
                "rule": "absolute",
                "sig_figs": None,
                "limit": "NLT 98.0",
                "value": "97.99",
                "reported": None,
                "compared": "97.99",
                "conforms": False,
                "band": "none",
                "rounding": "ASTM E29 absolute method: no rounding",
            },
        ),
        (
            ["--rule", "astm-e29", "--sig-figs", "3", "--limit", "NMT 2.34", "--value", "2.345"],
            {
                "rule": "astm-e29",
                "sig_figs": 3,
                "limit": "NMT 2.34",
                "value": "2.345",
                "reported": "2.34",
                "compared": "2.34",
                "conforms": True,
                "band": "none",
                "rounding": "ASTM E29 rounding method: round half to even to 3 significant figures",
            },
        ),
        (
            [
                "--rule",
                "usp",
                "--limit",
                "NLT 98.0",
                "--value",
                "97.96",
                "--alert",
                "NLT 98.5",
                "--action",
                "NLT 98.2",
            ],
            {
                "rule": "usp",
                "sig_figs": None,
                "limit": "NLT 98.0",
                "value": "97.96",
                "reported": "98.0",
                "compared": "98.0",
                "conforms": True,
                "band": "action",
                "rounding": "USP <7.20>: round half up to 1 decimal place",
            },
        ),
        (
            ["--rule", "usp", "--limit", "95.0 to 105.0", "--value", "96.0", "--alert", "97-103"],
            {
                "rule": "usp",
                "sig_figs": None,
                "limit": "95.0-105.0",
                "value": "96.0",
                "reported": "96.0",
                "compared": "96.0",
                "conforms": True,
                "band": "alert",
                "rounding": "USP <7.20>: round half up to 1 decimal place",
            },
        ),
        (
            ["--rule", "usp", "--limit", "CONFORMS: White powder", "--value", "white  powder"],
            {
                "rule": "usp",
                "sig_figs": None,
                "limit": "Conforms: White powder",
                "value": "white  powder",
                "reported": None,
                "compared": None,
                "conforms": True,
                "band": "none",
                "rounding": "No rounding: a text result is compared with the expected text",
            },
        ),
    ],
)
def test_json_output(args: list[str], expected: dict[str, object]) -> None:
    code, out, err = run(*args, "--json")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1  # exactly one JSON object on one line
    assert json.loads(out) == expected


def test_plain_text_summary() -> None:
    code, out, err = run("--rule", "usp", "--limit", "NMT 0.5", "--value", "0.55")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Limit:     NMT 0.5",
        "Value:     0.55",
        "Reported:  0.6",
        "Compared:  0.6",
        "Rounding:  USP <7.20>: round half up to 1 decimal place",
        "Band:      none",
        "Result:    does not conform",
    ]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--rule", "bankers", "--limit", "NLT 98.0", "--value", "97.96"], "'bankers'"),
        (["--rule", "usp", "--limit", "NLT 98.0", "--value", "97,96"], "'97,96'"),
        (["--rule", "usp", "--limit", "at least 98", "--value", "97.96"], "'at least 98'"),
        (["--rule", "usp", "--limit", "105.0-95.0", "--value", "97.96"], "low end"),
        (["--rule", "usp", "--limit", "NLT 98.0", "--value", "1", "--alert", "x"], "alert"),
        (
            ["--rule", "absolute", "--sig-figs", "3", "--limit", "NLT 98.0", "--value", "97.96"],
            "absolute method",
        ),
        (["--rule", "usp", "--sig-figs", "0", "--limit", "NLT 98.0", "--value", "1"], "not 0"),
        (["--rule", "usp", "--limit", "CONFORMS", "--value", "98.0"], "expects a text result"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(args: list[str], names: str) -> None:
    code, out, err = run(*args, "--json")
    assert (code, out) == (2, "")
    assert names in err
    assert err.count("\n") == 1
    assert err.rstrip().endswith(".")


def test_bad_input_in_a_separate_process() -> None:
    done = run_in_process("--rule", "usp", "--limit", "NLT 98.0", "--value", "12abc", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "'12abc'" in done.stderr
    assert "Traceback" not in done.stderr


def test_good_input_in_a_separate_process() -> None:
    done = run_in_process("--rule", "usp", "--limit", "NLT 98.0", "--value", "97.92", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["reported"] == "97.9"
    assert json.loads(done.stdout)["conforms"] is False
