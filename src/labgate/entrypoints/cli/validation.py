"""`labgate validation pack`: the URS, risk assessment, trace matrix, OQ evidence from a real
test run and IQ of this installation, as one deterministic folder with its SHA256SUMS."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from labgate.adapters.validation.iq import installation
from labgate.adapters.validation.oq_run import run_marked_tests
from labgate.adapters.validation.pack import build
from labgate.config import Settings
from labgate.service.validation.requirements import REQUIREMENTS

EXIT_FAILS = 1  # a gap, a failed, unrun or shallow requirement: the pack is written, and fails
validation_app = typer.Typer(help="The validation pack (GAMP 5).", no_args_is_help=True)


@validation_app.command()
def pack(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the pack into.")],
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            exists=True,
            dir_okay=False,
            help="JUnit XML of a test run (pytest --junitxml); without it, the tests marked "
            "`requirement` under --tests are run now.",
        ),
    ] = None,
    tests: Annotated[
        Path, typer.Option("--tests", help="Where the tests are, when --junit is not given.")
    ] = Path("tests"),
) -> None:
    """Write the validation pack; exit non-zero, naming each reason, if it fails."""
    report = junit.read_bytes() if junit else _run(tests)
    settings = Settings()
    iq = installation(settings.database_url, settings.amqp_url, settings.model_dump(mode="json"))
    built = build(out, REQUIREMENTS, report, iq)
    for name in built.files:
        typer.echo(str(out / name))
    counts = built.summary["counts"]
    typer.echo(
        f"{counts['requirements']} requirements, {counts['tests_traced']} tests traced, "
        f"{counts['gap']} gaps: {built.summary['verdict']}"
    )
    for problem in built.problems:
        typer.echo(f"fails: {problem}", err=True)
    if built.problems:
        raise typer.Exit(EXIT_FAILS)


def _run(tests: Path) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        run_marked_tests(tests, report)
        if not report.is_file():
            typer.echo(f"pytest wrote no JUnit report; are there tests under {tests}?", err=True)
            raise typer.Exit(EXIT_FAILS)
        return report.read_bytes()
