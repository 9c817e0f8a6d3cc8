"""The conformance report: every case with its evidence, as canonical JSON (RFC 8785) signed with
a detached Ed25519 JWS by the kit's key, and a short text for the operator. A reader checks it
with `labgate conformance verify` or any JWS library (the public key is in the report; trust
it as far as it is labgate's published key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.compliance.canonical import canonical_json
from labgate.compliance.clock import iso_utc
from labgate.compliance.detached import sign_detached, verify_detached
from labgate.compliance.signer import Signer
from labgate.service.conformance.cases import Outcome

KIT = "labgate conformance kit"
VERSION = 1


@dataclass(frozen=True)
class RunFacts:
    """What the run was against, and when."""

    partner: str
    target: str
    site: str
    stream: str
    started_at: datetime
    finished_at: datetime
    message_format: str = "json"  # json envelopes | b2mml documents


def build_report(facts: RunFacts, outcomes: list[Outcome], signer: Signer) -> dict[str, Any]:
    """The report's content (unsigned)."""
    failed = [o for o in outcomes if not o.passed]
    return {
        "kit": KIT,
        "version": VERSION,
        "partner": facts.partner,
        "format": facts.message_format,
        "target": facts.target,
        "site": facts.site,
        "stream": facts.stream,
        "started_at": iso_utc(facts.started_at),
        "finished_at": iso_utc(facts.finished_at),
        "signed_by": {"kid": signer.kid, "public_jwk": signer.public_jwk},
        "summary": {"cases": len(outcomes), "passed": len(outcomes) - len(failed),
                    "failed": len(failed), "result": "fail" if failed else "pass"},
        "failures": [f"{o.schema} {o.kind.value}: {'; '.join(o.problems)}" for o in failed],
        "cases": [o.as_json() for o in outcomes],
    }  # fmt: skip


def sign_report(report: dict[str, Any], signer: Signer) -> tuple[bytes, str]:
    """The report's bytes as written (canonical JSON) and their detached JWS."""
    data = canonical_json(report)
    return data, sign_detached(data, signer.kid, signer.private_jwk)


def verify_report(data: bytes, token: str, public_jwk: dict[str, Any]) -> None:
    """Raise EnvelopeError unless `token` signs exactly these bytes with that key."""
    verify_detached(data, token, public_jwk)


def report_text(report: dict[str, Any]) -> str:
    """A page for the operator: one line per case, failures with why."""
    summary = report["summary"]
    lines = [
        f"{KIT}: {report['partner']} at {report['target']}, {report.get('format', 'json')} "
        f"({report['started_at']})",
        f"{summary['passed']} of {summary['cases']} cases passed: {summary['result'].upper()}",
        "",
    ]
    for case in report["cases"]:
        verdict = "PASS" if case["result"] == "pass" else "FAIL"
        line = f"{verdict}  {case['message_type']:38} {case['case']:14}"
        lines.append(line + ("" if verdict == "PASS" else f"  {case['why']}"))
    return "\n".join(lines) + "\n"
