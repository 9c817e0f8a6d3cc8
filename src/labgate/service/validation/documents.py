"""The pack's documents as data, and their canonical bytes: the same inputs give the same
bytes, so a pack can be rebuilt and compared by its SHA256SUMS."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from labgate.service.validation.evidence import TestRun
from labgate.service.validation.requirements import Requirement
from labgate.service.validation.trace import Status, Trace


def canonical(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, two-space indent, UTF-8, one final newline: the bytes the pack writes."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sha256(data: bytes) -> str:
    """The hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def urs(requirements: Sequence[Requirement]) -> dict[str, Any]:
    """The User Requirements Specification."""
    return {
        "document": "URS",
        "requirements": [
            {
                "id": r.id,
                "title": r.title,
                "text": r.text,
                "source": r.source,
                "not_applicable": r.not_applicable or None,
            }
            for r in requirements
        ],
    }


def risk(requirements: Sequence[Requirement]) -> dict[str, Any]:
    """The GAMP 5 risk assessment of each requirement."""
    return {
        "document": "GAMP 5 risk assessment",
        "method": "severity x probability -> risk class; risk class x detectability -> priority",
        "assessments": [{"id": r.id, "title": r.title, **r.risk.as_record()} for r in requirements],
    }


def trace_matrix(matrix: Trace) -> dict[str, Any]:
    """Requirement -> configuration and code -> tests, with each requirement's status."""
    return {
        "document": "Trace matrix",
        "rows": [row.as_record() for row in matrix.rows],
        "gaps": [row.requirement.id for row in matrix.rows if row.status is Status.GAP],
        "unknown_ids": list(matrix.unknown_ids),
    }


def oq(run: TestRun) -> dict[str, Any]:
    """The executed OQ evidence: every traced test of the run."""
    return {
        "document": "OQ evidence",
        "run_started_at": run.started_at,
        "tests": [test.as_record() for test in run.tests],
    }


def summary(matrix: Trace, run: TestRun, hashes: Mapping[str, str]) -> dict[str, Any]:
    """The verdict, the counts, the problems that fail the pack and the files' SHA-256."""
    statuses = [row.status for row in matrix.rows]
    return {
        "document": "Validation summary",
        "run_started_at": run.started_at,
        "verdict": "fail" if matrix.problems else "pass",
        "problems": matrix.problems,
        "counts": {
            "requirements": len(matrix.rows),
            "tests_traced": len(run.tests),
            **{status.value: statuses.count(status) for status in Status},
        },
        "requirements": [
            {
                "id": row.requirement.id,
                "title": row.requirement.title,
                "priority": row.requirement.risk.priority.value,
                "tests": len(row.tests),
                "status": row.status.value,
                "missing_categories": list(row.missing_categories),
            }
            for row in matrix.rows
        ],
        "files": dict(sorted(hashes.items())),
    }


def sha256sums(files: Mapping[str, bytes]) -> bytes:
    """`sha256sum`'s format, so `sha256sum -c SHA256SUMS` checks the pack."""
    return "".join(f"{sha256(files[name])}  {name}\n" for name in sorted(files)).encode()
