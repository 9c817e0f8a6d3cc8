"""The User Requirements Specification as data kept in the product: one requirement per
transaction type and per clause of 21 CFR Part 11 and EU GMP Annex 11
(../shared/reference/part11-annex11-checklist.md).

Kept as Python rather than a TOML file: mypy checks every field, the ids sit beside the code that
reads them, and no package data has to be shipped. Ids never change once issued: a transaction's
is numbered (URS-TX-001), a clause's is the clause number (URS-P11-11.10a, URS-A11-7.1), so the
tests that carry them stay attached whatever is added later."""

from __future__ import annotations

from dataclasses import dataclass

from labgate.service.validation.risk import Level, Risk


@dataclass(frozen=True)
class Requirement:
    """One user requirement: what labgate must do, how risky it is, and where it is done."""

    id: str
    title: str
    text: str
    source: str  # "transaction", "21 CFR Part 11" or "EU GMP Annex 11"
    risk: Risk
    # The modules (and `Settings.<field>`s) that implement it: the trace's "configuration and code".
    implemented_by: tuple[str, ...]
    # Why the clause does not apply to labgate; such a requirement needs no test.
    not_applicable: str = ""


def _req(
    id: str, title: str, text: str, risk: str, *code: str, not_applicable: str = ""
) -> Requirement:
    """A requirement; `risk` is severity, probability and detectability as three letters."""
    source = {"TX": "transaction", "P11": "21 CFR Part 11", "A11": "EU GMP Annex 11"}
    severity, probability, detectability = (Level(letter) for letter in risk)
    return Requirement(
        id, title, text, source[id.split("-")[1]], Risk(severity, probability, detectability), code,
        not_applicable,
    )  # fmt: skip


_S = "labgate.service"
_C = "labgate.compliance"
_A = "labgate.adapters"
_E = "labgate.entrypoints"

# The tables are kept compact, one requirement to a few lines: a table to read.
# fmt: off
TRANSACTIONS: tuple[Requirement, ...] = (
    _req("URS-TX-001", "Sample request",
         "A sample request from the MES binds the effective specification version, limit "
         "set and planned tests at sampling time.",
         "HMM", f"{_S}.handlers.samples", "labgate.domain.sampling", "labgate.domain.samples"),
    _req("URS-TX-002", "Sample registration",
         "A requested sample is registered in the lab and its sample and test ids are "
         "acknowledged to the MES.",
         "HMM", f"{_S}.handlers.samples", f"{_S}.reactions.messages",
         f"{_A}.connectors.rest_lims"),
    _req("URS-TX-003", "Sample cancellation",
         "A cancelled sample stops its tests; results arriving later change nothing.",
         "MMM", f"{_S}.handlers.samples", "labgate.domain.samples"),
    _req("URS-TX-004", "Result post",
         "A reviewed result is converted within its quantity kind, rounded per method and "
         "evaluated against the bound limits; raw value and unit are kept.",
         "HMM", f"{_S}.handlers.results", "labgate.domain.numbers", "labgate.domain.limits",
         "labgate.domain.units"),
    _req("URS-TX-005", "Result invalidation",
         "An invalidated result is superseded, linked to its retest, and the MES is told.",
         "HML", f"{_S}.handlers.results", "labgate.domain.samples"),
    _req("URS-TX-006", "Status update and acknowledgement",
         "Only approved results produce Accepted or Rejected for the MES; preliminary ones "
         "stay Pending; the status map decides the MES status.",
         "HMM", "labgate.domain.status_map", f"{_S}.reactions.messages", f"{_S}.outbox.relay"),
    _req("URS-TX-007", "Hold, gate and disposition messages",
         "Gates stay closed until every bound test is approved and in limits; QA "
         "disposition is signed and production is told.",
         "HMM", "labgate.domain.gates", "labgate.domain.disposition", f"{_S}.reactions.gates"),
    _req("URS-TX-008", "File packs",
         "File packs from a drop folder or SFTP are checked whole (manifest, hashes, "
         "optional PGP) before any record is taken in.",
         "MMM", f"{_S}.packs", f"{_A}.codecs.filepack", f"{_A}.channels.pack_pickup",
         "Settings.pack_folder"),
    _req("URS-TX-009", "Error handling and quarantine",
         "A message that cannot be taken in goes to quarantine with its raw bytes and a "
         "reason code: never dropped, never auto-corrected.",
         "HML", f"{_S}.inbox.quarantine", f"{_S}.inbox.admission", "labgate.domain.reasons"),
    _req("URS-TX-010", "Duplicates and ordering",
         "A duplicate (source, message id) is acknowledged and changes nothing; messages "
         "of a stream are taken in sequence order.",
         "HML", f"{_S}.inbox.admission", f"{_S}.inbox.incoming", f"{_A}.store.writer_turns"),
)

PART_11: tuple[Requirement, ...] = (
    _req("URS-P11-11.10a", "Validation",
         "Messages are delivered accurately and invalid or altered records are discerned: "
         "a tampered payload or signature is rejected and logged.",
         "HMM", f"{_C}.envelope", f"{_C}.detached", f"{_S}.inbox.admission", f"{_S}.validation",
         f"{_S}.replay"),
    _req("URS-P11-11.10b", "Copies of records",
         "Every stored record can be exported complete in human-readable and electronic "
         "form.",
         "MLM", f"{_A}.reports.audit_export", f"{_A}.reports.dossier", f"{_A}.reports.render"),
    _req("URS-P11-11.10c", "Protection and retention of records",
         "Records stay retrievable and unaltered (their hash verifies); no API or UI "
         "deletes them.",
         "HLM", f"{_C}.audit", f"{_A}.store.audit_store"),
    _req("URS-P11-11.10d", "Limiting system access",
         "Every endpoint and console action needs an authenticated, authorised identity; "
         "anonymous calls get 401 or 403.",
         "HMH", f"{_E}.api.auth", f"{_C}.access", f"{_E}.web.sessions"),
    _req("URS-P11-11.10e", "Audit trail",
         "A secure, computer-generated, time-stamped, append-only, hash-chained trail of "
         "every create, modify and delete (who, what, when, old and new value, why).",
         "HML", f"{_C}.audit", f"{_A}.store.audit_store", f"{_C}.clock", f"{_C}.time_check",
         f"{_S}.clock_watch"),
    _req("URS-P11-11.10f", "Operational sequencing",
         "State machines enforce the permitted order; an out-of-order move is refused and "
         "logged.",
         "HMM", "labgate.domain.samples", "labgate.domain.lifecycle", f"{_S}.inbox.incoming"),
    _req("URS-P11-11.10g", "Authority checks",
         "Roles and permissions are checked server-side for use, signing, altering and "
         "configuring.",
         "HMM", f"{_C}.access", f"{_E}.api.auth"),
    _req("URS-P11-11.10h", "Device (source) checks",
         "Only registered source systems and keys are accepted; an unknown source is "
         "refused and audited.",
         "HMM", f"{_C}.keys", f"{_S}.config_cache", f"{_S}.inbox.admission"),
    _req("URS-P11-11.10i", "Training and qualification",
         "Role assignment is controlled and recorded for each person (qualification is a "
         "procedural control of the plant).",
         "MML", f"{_S}.handlers.account_admin", f"{_C}.access"),
    _req("URS-P11-11.10j", "Accountability",
         "The signature's meaning and accountability statement are shown at signing time.",
         "MLM", f"{_C}.signatures", f"{_E}.web.review"),
    _req("URS-P11-11.10k", "System documentation",
         "Specifications and configuration are version-controlled with change history; "
         "configuration changes are audited.",
         "MMM", f"{_S}.masterdata.specs", "labgate.domain.masterdata", f"{_S}.schema_catalog"),
    _req("URS-P11-11.30", "Open systems",
         "Payloads carry detached signatures over canonical JSON; webhooks can use mutual "
         "TLS.",
         "HMM", f"{_C}.envelope", f"{_C}.signer", f"{_C}.canonical",
         "Settings.webhook_client_cert"),
    _req("URS-P11-11.50", "Signature manifestations",
         "A signed record shows the signer's printed name, the time and the meaning, on "
         "screen and in print.",
         "MLH", f"{_C}.signatures", f"{_A}.reports.certificate"),
    _req("URS-P11-11.70", "Signature/record linking",
         "A signature binds to the hash of the record's canonical form; a changed record "
         "shows its signature as broken.",
         "HLM", f"{_C}.signatures", f"{_C}.canonical"),
    _req("URS-P11-11.100a-c", "Uniqueness of electronic signatures",
         "A signing identity belongs to one person and is never reused or reassigned; "
         "accounts are deactivated, not deleted.",
         "HLM", f"{_S}.handlers.account_admin", f"{_C}.identities"),
    _req("URS-P11-11.200a", "Signature components",
         "A signature needs the user id and the password, re-entered at signing.",
         "HML", f"{_C}.signed_actions", f"{_C}.passwords"),
    _req("URS-P11-11.200b", "Biometric signatures",
         "Biometric signatures, if used, are bound to their genuine owner only.",
         "LLH", f"{_C}.signed_actions",
         not_applicable="labgate has no biometric signing: every signature is the user id and "
         "password (URS-P11-11.200a)."),
    _req("URS-P11-11.300a-e", "Identification codes and passwords",
         "Unique id-password pairs, password ageing, revocation of lost credentials, "
         "lock-out and alert on repeated failed attempts.",
         "HMM", f"{_C}.passwords", f"{_C}.throttle", f"{_S}.handlers.accounts"),
)

ANNEX_11: tuple[Requirement, ...] = (
    _req("URS-A11-1", "Risk management",
         "A risk assessment decides which data flows get audit trail, signatures and extra "
         "checks; this pack records it.",
         "MLH", f"{_S}.validation.risk"),
    _req("URS-A11-4", "Validation",
         "A URS traced to tests covering parameter limits, data limits and error handling; "
         "format transfers keep value and meaning.",
         "HMM", f"{_S}.validation.trace", f"{_A}.codecs.b2mml"),
    _req("URS-A11-5", "Data exchange checks",
         "Built-in checks for exchanged data: schema validation, business rules, "
         "signatures, duplicate detection, acknowledgements.",
         "HMM", f"{_S}.inbox.admission", f"{_C}.envelope_schema", f"{_A}.codecs.b2mml",
         f"{_S}.conformance.cases", "labgate.domain.channel_allow_list",
         f"{_S}.change_allow_list"),
    _req("URS-A11-6", "Accuracy checks",
         "Critical manual entries need a second person: whoever entered a result cannot "
         "approve it.",
         "HMM", f"{_C}.access", f"{_S}.handlers.results"),
    _req("URS-A11-7.1", "Data storage",
         "Stored data is protected against damage and its integrity can be checked over "
         "the retention period.",
         "HLM", f"{_A}.store.audit_scan", f"{_C}.checkpoints"),
    _req("URS-A11-7.2", "Backups",
         "A backup can be restored and its integrity verified (the audit chain verifies on "
         "the restored copy).",
         "HLM", f"{_C}.checkpoints", f"{_A}.store.audit_scan"),
    _req("URS-A11-8.1", "Printouts",
         "Clear printed copies of stored data (certificates, dossiers, audit exports).",
         "MLH", f"{_A}.reports.render", f"{_A}.reports.certificate", f"{_A}.reports.dossier"),
    _req("URS-A11-8.2", "Batch-release printouts",
         "Release printouts show whether data changed since original entry.",
         "MLM", f"{_A}.reports.dossier", f"{_A}.store.dossier_view"),
    _req("URS-A11-9", "Audit trail",
         "Every GMP-relevant change or deletion is recorded with a mandatory reason; the "
         "trail is viewable and exportable.",
         "HML", f"{_C}.audit", f"{_E}.web.audit", f"{_A}.reports.audit_export"),
    _req("URS-A11-10", "Change and configuration management",
         "Configuration and mapping changes go through a controlled, versioned process; "
         "the running version is visible.",
         "MMM", f"{_S}.masterdata.specs", f"{_S}.config_cache", f"{_S}.schema_catalog",
         "labgate.domain.change_control", f"{_S}.handlers.change_requests",
         f"{_S}.change_impact", "labgate.entrypoints.cli.change",
         "labgate.entrypoints.cli.due_changes", "labgate.entrypoints.web.change_requests",
         "labgate.entrypoints.web.change_steps", f"{_S}.change_masterdata",
         f"{_S}.masterdata.governance"),
    _req("URS-A11-11", "Periodic evaluation",
         "The hub produces evidence for periodic review: refusals, quarantine and "
         "interface error statistics.",
         "MLH", f"{_S}.refusals", f"{_E}.web.refusals", f"{_S}.handlers.audit_reviews",
         f"{_C}.audit_review", f"{_C}.trail_categories", f"{_A}.store.trail_review",
         f"{_S}.handlers.data_quality", f"{_A}.store.dq_measures"),
    _req("URS-A11-12.1-12.3", "Security",
         "Logical access control; creating, changing and cancelling access rights is "
         "recorded.",
         "HMM", f"{_S}.handlers.account_admin", f"{_C}.access"),
    _req("URS-A11-12.4", "Operator identity",
         "The identity of whoever enters, changes, confirms or deletes data is recorded "
         "with the date and time.",
         "HLM", f"{_C}.audit", f"{_C}.clock"),
    _req("URS-A11-13", "Incident management",
         "Failed, refused and quarantined messages are recorded as incidents; nothing is "
         "silently dropped.",
         "HML", f"{_S}.inbox.quarantine", f"{_S}.refusals", f"{_S}.handlers.data_quality"),
    _req("URS-A11-14", "Electronic signature",
         "A signature is permanently linked to its record and carries the time and date it "
         "was applied.",
         "HLM", f"{_C}.signatures"),
    _req("URS-A11-15", "Batch release",
         "Only the QP role may certify release; labgate never releases on its own.",
         "HLM", "labgate.domain.disposition", f"{_C}.access"),
    _req("URS-A11-16", "Business continuity",
         "While the MES or LIMS is away, messages wait in the outbox and are delivered, "
         "none lost, when it is back.",
         "HML", f"{_S}.outbox.relay", f"{_S}.outbox.relay_loop"),
    _req("URS-A11-17", "Archiving",
         "Archived records (signed audit exports) stay accessible, readable and checkable "
         "for integrity.",
         "MLM", f"{_A}.reports.audit_export", f"{_C}.checkpoints"),
)

# fmt: on

REQUIREMENTS: tuple[Requirement, ...] = TRANSACTIONS + PART_11 + ANNEX_11

# Each kind of change request -> the requirements whose tests cover what it changes: the change's
# impact assessment names them (service/change_impact.py), and the pack's trace their tests.
COVERING_CHANGES: dict[str, tuple[str, ...]] = {
    "status_map": ("URS-TX-004", "URS-TX-006", "URS-A11-10"),
    "spec_retirement": ("URS-TX-001", "URS-A11-10"),
    "method_deprecation": ("URS-TX-001", "URS-TX-004", "URS-A11-10"),
    "channel_allow_list": ("URS-A11-5", "URS-TX-009", "URS-A11-10"),
    "masterdata": ("URS-TX-001", "URS-TX-004", "URS-A11-10"),
}
