"""`labgate b2mml`: check a B2MML V0701 document against the MESA schemas; export the effective
specification versions as ProcessTestSpecification documents.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from labgate.adapters.codecs.b2mml import (
    MalformedDocument,
    SchemasNotFound,
    export_test_specification,
    validate,
)
from labgate.adapters.store.uow import SqlRecords
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.errors import LabgateError
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.masterdata import Site, SpecVersion, TestDefinition

b2mml_app = typer.Typer(help="B2MML V0701 documents (ISA-95).", no_args_is_help=True)
export_app = typer.Typer(help="Write B2MML documents from the database.", no_args_is_help=True)
b2mml_app.add_typer(export_app, name="export")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@contextmanager
def _hub() -> Iterator[Hub]:
    # cli.main.open_hub would be a circular import once main registers this sub-app.
    hub = bootstrap(Settings())
    try:
        yield hub
    finally:
        hub.close()


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _reason(error: LabgateError) -> str:
    return f"{error.message} [{error.reason}]"


@b2mml_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="The B2MML XML document to check.")],
) -> None:
    """Validate against the schema of the root element: exit 0 valid, 1 invalid, 2 unreadable."""
    try:
        problems = validate(file.read_bytes())
    except OSError as error:
        raise _fail(f"cannot read {file}: {error.strerror}.", 2) from None
    except (MalformedDocument, SchemasNotFound) as error:
        raise _fail(f"{file}: {_reason(error)}", 2) from None
    if not problems:
        typer.echo("valid")
        return
    for problem in problems:
        typer.echo(str(problem))
    raise typer.Exit(1)


@export_app.command("test-specs")
def export_test_specs(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for one <site>_<spec>_v<N>.xml per version.")
    ],
) -> None:
    """One ProcessTestSpecification per effective spec version, each validated before writing."""
    try:
        with _hub() as hub, hub.sessions() as session:
            documents = _documents(session)
    except LabgateError as error:
        raise _fail(_reason(error), 1) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, document in documents.items():
            (out / name).write_bytes(document)
    except OSError as error:
        raise _fail(f"cannot write the documents to {out}: {error.strerror}.", 1) from None
    typer.echo(f"Wrote {len(documents)} test specifications to {out}.")


def _documents(session: Session) -> dict[str, bytes]:
    """File name -> document, for every effective version; refuses to emit an invalid one."""
    records = SqlRecords(session)
    documents: dict[str, bytes] = {}
    for site in records.find(Site):
        tests = {t.code: t for t in records.find(TestDefinition, site=site.code)}
        for version in records.find(SpecVersion, site=site.code, status=SpecStatus.EFFECTIVE):
            document = export_test_specification(version, tests)
            problems = validate(document)
            if problems:  # a bug in the exporter, never the operator's fault: stop loudly
                raise LabgateError(
                    f"The export of {site.code}/{version.ref} breaks the B2MML schema "
                    f"({problems[0]}); nothing was written. Report this as a labgate defect.",
                    reason="b2mml.export_invalid",
                )
            name = f"{site.code}_{version.specification}_v{version.version}.xml"
            documents[_UNSAFE.sub("_", name)] = document
    return documents
