"""Build the validation pack into a folder: the documents, their HTML, the summary PDF and
SHA256SUMS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labgate.adapters.validation.render import page, summary_pdf
from labgate.service.validation import documents
from labgate.service.validation.evidence import read_junit
from labgate.service.validation.requirements import Requirement
from labgate.service.validation.trace import trace


@dataclass(frozen=True)
class Built:
    """What a build wrote and why it fails (no problems: it passes)."""

    files: tuple[str, ...]
    summary: dict[str, Any]

    @property
    def problems(self) -> list[str]:
        """The sentences that fail the pack."""
        found: list[str] = self.summary["problems"]
        return found


def build(
    out: Path, requirements: Sequence[Requirement], junit: bytes, iq: dict[str, Any]
) -> Built:
    """Write the pack for the test run of this JUnit report into `out` (the report copied in
    as the raw OQ evidence); the same inputs write the same bytes."""
    run = read_junit(junit)
    matrix = trace(requirements, run)
    parts = {
        "urs": documents.urs(requirements),
        "risk": documents.risk(requirements),
        "trace": documents.trace_matrix(matrix),
        "oq": documents.oq(run),
        "iq": iq,
    }
    files: dict[str, bytes] = {"oq-junit.xml": junit}
    for name, document in parts.items():
        files[f"{name}.json"] = documents.canonical(document)
        files[f"{name}.html"] = page(document, run.started_at)
    hashes = {name: documents.sha256(data) for name, data in files.items()}
    summary = documents.summary(matrix, run, hashes)
    files["summary.json"] = documents.canonical(summary)
    files["summary.pdf"] = summary_pdf(summary)
    files["SHA256SUMS"] = documents.sha256sums(files)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return Built(tuple(sorted(files)), summary)
