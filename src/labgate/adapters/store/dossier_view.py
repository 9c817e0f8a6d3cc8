"""Review by exception and the batch dossier (EBR with its linked lab evidence), read from the
store: the records, the signatures checked against them, and the batch's audit excerpts with
their seals checked.

"Changed after its original entry" — a record is listed when
  * a result was invalidated (kept, superseded by its retest: `result.invalidated`),
  * the trail says a stored record was updated (an action ending in .updated, .modified,
    .corrected or .changed),
  * a signature no longer matches its record (the record changed after it was signed, e.g. a
    row edited behind labgate's back), or
  * an audit excerpt's seal does not match its content (the trail itself was edited).
Workflow steps (registration, approval, deviation steps, disposition) add to a record; they do
not change what was entered, and are not listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import views
from labgate.adapters.store.audit_store import verify_stored
from labgate.adapters.store.document_facts import Reader, product_name, reader, reader_facts
from labgate.adapters.store.review_signals import excursion_findings, open_alerts, reaching
from labgate.compliance.audit import AuditEntry
from labgate.compliance.canonical import content_hash, to_jsonable
from labgate.compliance.clock import iso_utc
from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.deviations import Deviation
from labgate.domain.disposition import Finding, live_samples, release_blockers, review_findings
from labgate.domain.em_monitoring import EmExcursion
from labgate.domain.errors import NotFound
from labgate.domain.samples import Sample

UPDATE_SUFFIXES = (".updated", ".modified", ".corrected", ".changed")
NO_CHANGE = "No data was changed after its original entry."


def _records(session: Session, site: str, code: str) -> tuple[Batch, list[Sample], list[Deviation]]:
    batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
    if batch is None:
        raise NotFound(f"No batch {code} in site {site}.", reason="batch.unknown", field="batch")
    samples = sorted(session.scalars(select(Sample).filter_by(site=site, batch=code)),
                     key=lambda s: s.code)  # fmt: skip
    deviations = sorted(session.scalars(select(Deviation).filter_by(site=site, batch=code)),
                        key=lambda d: d.code)  # fmt: skip
    return batch, samples, deviations


def _excerpt(session: Session, batch: Batch, samples: list[Sample]) -> list[AuditEntry]:
    """The batch's audit entries as its timeline has them."""
    codes = [s.code for s in samples]
    extra = [batch.code] + [s.mes_request_id for s in samples if s.mes_request_id]
    extra += views.deviation_codes(session, batch.site, batch=batch.code)
    return views.entries(session, views.timeline_query(batch.site, codes, extra))


def _signed(
    session: Session, site: str, batch: Batch, samples: list[Sample], with_views: bool = True
) -> dict[str, Any]:
    """Every signed record of the batch as shown, with each signature's status: the batch, its
    results' signatures by result code, its deviations, and (`with_views`) its samples' views."""
    results = views.result_signatures(session, site, samples)
    return {
        "batch": views.batch_view(session, site, batch.code),
        "samples": views.sample_views(session, site, samples, results) if with_views else [],
        "results": results,
        "deviations": [
            views.deviation_view(session, site, d)
            for d in views.deviation_codes(session, site, batch=batch.code)
        ],
    }


def _broken(signed: dict[str, Any], shown: Reader) -> list[Finding]:
    found: list[tuple[str, str, dict[str, Any]]] = [
        ("batch", signed["batch"]["code"], s) for s in signed["batch"]["signatures"]
    ]
    for code, signatures in signed["results"].items():
        found += [("result", code, s) for s in signatures]
    found += [("deviation", d["code"], s) for d in signed["deviations"] for s in d["signatures"]]
    return [
        Finding(
            "signature_broken",
            about,
            code,
            f"The '{s['meaning']}' signature of {s['printed_name']} ({s['signer']}, "
            f"{shown.at(s['signed_at'])}) no "
            f"longer matches {about} {code}: it changed after it was signed.",
        )
        for about, code, s in found
        if s["status"] == "broken"
    ]


def _trail_findings(entries: list[AuditEntry], shown: Reader) -> list[Finding]:
    findings = []
    for entry in entries:
        d = entry.draft
        if entry.hash != entry.expected_hash():
            why = f"Audit entry {entry.seq} ({d.action}) does not match its seal."
            findings.append(Finding("audit_entry_altered", "audit_entry", str(entry.seq), why))
        elif d.action.endswith(UPDATE_SUFFIXES):
            why = f"{d.action} by {shown.who(d.actor)} at {shown.at(d.at)}: {d.reason}"
            findings.append(Finding("record_changed", d.record_type, d.record_id, why))
    return findings


@dataclass(frozen=True)
class BatchRecords:
    """A batch, its samples and deviations (by code), and every signed record of it as shown,
    with each signature's status: read once for its review, its dossier and its page."""

    batch: Batch
    samples: list[Sample]
    deviations: list[Deviation]
    signed: dict[str, Any]


def batch_records(session: Session, site: str, code: str) -> BatchRecords:
    """The batch's records and its signatures as shown, its samples' views left to those who
    show them (views.sample_views with `signed["results"]`); NotFound for an unknown batch."""
    batch, samples, deviations = _records(session, site, code)
    signed = _signed(session, site, batch, samples, with_views=False)
    return BatchRecords(batch, samples, deviations, signed)


def review(session: Session, site: str, code: str, now: datetime) -> dict[str, Any]:
    """Review by exception: every item needing review, with why; none ⇒ ready by exception."""
    records = batch_records(session, site, code)
    return review_of(session, records, reaching(session, records.batch, now))


def review_of(
    session: Session, records: BatchRecords, excursions: Sequence[EmExcursion]
) -> dict[str, Any]:
    """The review by exception of records already read, with the EM excursions reaching the
    batch now (review_signals.reaching)."""
    r = records
    outside = tuple(excursion_findings(excursions))
    return _review(session, r.batch, r.samples, r.deviations, r.signed, outside)


def _review(
    session: Session,
    batch: Batch,
    samples: list[Sample],
    deviations: list[Deviation],
    signed: dict[str, Any],
    outside: tuple[Finding, ...] = (),
) -> dict[str, Any]:
    entries = _excerpt(session, batch, samples)
    shown = reader(session, batch.site, (e.draft.actor for e in entries))
    findings = review_findings(samples, deviations) + _broken(signed, shown)
    findings += [*open_alerts(session, batch), *outside]
    findings += _trail_findings(entries, shown)
    if not live_samples(samples):
        why = f"Batch {batch.code} has no samples."
        findings.append(Finding("batch_without_samples", "batch", batch.code, why))
    items = [f.as_item() for f in findings]
    return {"batch": batch.code, "ready_by_exception": not items, "items": items}


def changed_after_entry(
    entries: list[AuditEntry], signed: dict[str, Any], shown: Reader
) -> list[dict[str, str]]:
    """The records changed after their original entry, by the rule in this module's docstring;
    times and people in the site reader's terms."""
    invalidated = [
        Finding(
            "result_invalidated",
            "result",
            e.draft.record_id,
            f"Invalidated by {shown.who(e.draft.actor)} at {shown.at(e.draft.at)}: "
            f"{e.draft.reason}",
        )
        for e in entries
        if e.draft.action == "result.invalidated"
    ]
    findings = invalidated + _trail_findings(entries, shown) + _broken(signed, shown)
    return [f.as_item() for f in findings]


def dossier(session: Session, site: str, code: str) -> dict[str, Any]:
    """The batch dossier, with `content_sha256` over the canonical JSON of everything else."""
    batch, samples, deviations = _records(session, site, code)
    signed = _signed(session, site, batch, samples)
    entries = _excerpt(session, batch, samples)
    changed = changed_after_entry(
        entries, signed, reader(session, site, (e.draft.actor for e in entries))
    )
    content: dict[str, Any] = {
        "document": "Batch dossier",
        "site": site,
        "batch": batch.code,
        "product": batch.product,
        "started_at": to_jsonable(batch.started_at),
        "procedure": procedure_of(session, batch),
        "samples": [_with_provenance(s) for s in signed["samples"]],
        "deviations": signed["deviations"],
        "disposition": _disposition(signed["batch"], entries),
        "release_blockers": [f.as_item() for f in release_blockers(samples, deviations)],
        "review": _review(session, batch, samples, deviations, signed),
        "changed_after_entry": changed,
        "data_statement": NO_CHANGE
        if not changed
        else (f"Data was changed after its original entry: {len(changed)} record(s), listed."),
        "audit": {
            "entries": [_entry_view(e) for e in entries],
            "seals_verify": all(e.hash == e.expected_hash() for e in entries),
            "chain_verifies": verify_stored(session).ok,  # head and checkpoints included
        },
    }
    content["product_name"] = product_name(session, site, batch.product)
    content |= reader_facts(session, site, content)
    content["content_sha256"] = content_hash(content)
    return content


def procedure_of(session: Session, batch: Batch) -> dict[str, Any]:
    """The batch's procedure: its ISA-88 elements and its sampling points (by code)."""
    key = {"site": batch.site, "code": batch.procedure}
    found = session.scalars(select(Procedure).filter_by(**key)).one_or_none()
    points = session.scalars(
        select(SamplingPoint).filter_by(site=batch.site, procedure=batch.procedure)
    )
    return {
        "code": batch.procedure,
        "elements": [] if found is None else [to_jsonable(e) for e in found.elements],
        "sampling_points": sorted((to_jsonable(p) for p in points), key=lambda p: p["code"]),
    }


def _with_provenance(sample: dict[str, Any]) -> dict[str, Any]:
    """Each result with its chain: raw → converted → rounded → evaluated, under which limit."""
    limits = {t["test_code"]: t for t in sample["tests"]}
    for result in sample["results"]:
        test = limits.get(result["test_code"], {})
        result["provenance"] = {
            "raw": f"{result['raw_value']} {result['raw_unit'] or ''}".strip() + _alias(result),
            "converted": None
            if result["canonical_value"] is None
            else (
                f"{result['canonical_value']} {result['canonical_unit'] or ''}".strip()
                + f" (factor {result['conversion_factor']})"
            ),
            "rounded": None
            if result["reported_value"] is None
            else (f"{result['reported_value']} ({result['rounding']})"),
            "evaluated": None
            if result["conforms"] is None
            else (
                f"{'conforms' if result['conforms'] else 'does not conform'} to "
                f"{test.get('limit')} (band {result['band']})"
            ),
        }
    return sample


def _alias(result: dict[str, Any]) -> str:
    """The alias resolution, when the unit as sent was another system's code for ours."""
    resolved = result.get("resolved_unit")
    return f" (alias of {resolved})" if resolved and resolved != result["raw_unit"] else ""


def _disposition(batch: dict[str, Any], entries: list[AuditEntry]) -> dict[str, Any]:
    state = batch["disposition"]
    decided = [e for e in entries if e.draft.action == f"batch.{state}"]
    return {
        "state": state,
        "by": decided[-1].draft.actor if decided else None,
        "at": iso_utc(decided[-1].draft.at) if decided else None,
        "reason": decided[-1].draft.reason if decided else None,
        "signatures": batch["signatures"],
        "on_hold": batch["on_hold"],
        "mes_status": batch["mes_status"],
    }


def _entry_view(entry: AuditEntry) -> dict[str, Any]:
    d = entry.draft
    return {
        "seq": entry.seq,
        "at": iso_utc(d.at),
        "actor": d.actor,
        "action": d.action,
        "record_type": d.record_type,
        "record_id": d.record_id,
        "before": d.before,
        "after": d.after,
        "reason": d.reason,
        "hash": entry.hash,
    }
