"""The schema. Business keys are (site, code) and unique; integer ids stay inside the store."""

from __future__ import annotations

from enum import Enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import Enum as SqlEnum

from labgate.adapters.store.types import DecimalText, LongDecimalText, UtcDateTime
from labgate.compliance.audit_review import ReviewState
from labgate.compliance.time_check import ClockStatus
from labgate.domain.batches import Level
from labgate.domain.change_control import ChangeKind, ChangeState
from labgate.domain.data_quality import DqStatus
from labgate.domain.deviations import DeviationState
from labgate.domain.em_limits import CleanroomGrade, EmOutcome, EmSampleType, OperationalState
from labgate.domain.em_monitoring import EmSampleStatus, Frequency
from labgate.domain.icd import IcdStatus
from labgate.domain.lifecycle import ResultStatus, SampleStatus, SpecStatus, TestStatus
from labgate.domain.masterdata import AliasSystem
from labgate.domain.numbers import RoundingRule
from labgate.domain.raw_materials import LotStatus
from labgate.domain.skip_lot import InspectionState
from labgate.domain.stability import StudyStatus
from labgate.domain.status_map import MesStatus
from labgate.domain.trending import AlertStatus

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY = 64  # length of codes and business keys


def enum(kind: type[Enum]) -> SqlEnum:
    """An enum stored by value as plain text (portable, readable in exports)."""
    return SqlEnum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [
            str(m.value) if isinstance(m.value, str) else m.name for m in members
        ],
    )


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _site() -> Column[str]:
    return Column("site", String(KEY), nullable=False)


sites = Table("sites", metadata, Column("code", String(KEY), primary_key=True),
              Column("name", String(200), nullable=False),
              Column("time_zone", String(KEY), nullable=False, server_default="UTC"))  # fmt: skip

units = Table(
    "units",
    metadata,
    Column("code", String(KEY), primary_key=True),
    Column("expression", String(200), nullable=False),
    Column("precision", Integer, nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("kind", String(KEY), nullable=False),  # quantity kind: converts only within it (0012)
)

materials = Table(
    "materials", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False), UniqueConstraint("site", "code"),
)  # fmt: skip

lots = Table(
    "lots", metadata, _id(), _site(),
    Column("material", String(KEY), nullable=False), Column("code", String(KEY), nullable=False),
    Column("supplier", String(200)), UniqueConstraint("site", "material", "code"),
)  # fmt: skip

products = Table(
    "products", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    Column("specification", String(KEY), nullable=False),
    Column("shelf_life_months", Integer),  # null: no shelf life known, so no expiry (0021)
    UniqueConstraint("site", "code"),
)  # fmt: skip

method_versions = Table(
    "method_versions", metadata, _id(), _site(),
    Column("method", String(KEY), nullable=False), Column("version", String(KEY), nullable=False),
    Column("rounding_rule", enum(RoundingRule), nullable=False), Column("sig_figs", Integer),
    Column("deprecated_from", UtcDateTime),  # set by an effective change request (0027)
    UniqueConstraint("site", "method", "version"),
)  # fmt: skip

test_definitions = Table(
    "test_definitions", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    Column("unit", String(KEY)), Column("method", String(KEY), nullable=False),
    Column("current_method_version", String(KEY), nullable=False),
    Column("value_kind", String(16), nullable=False), UniqueConstraint("site", "code"),
)  # fmt: skip

spec_versions = Table(
    "spec_versions", metadata, _id(), _site(),
    Column("specification", String(KEY), nullable=False),
    Column("version", Integer, nullable=False), Column("author", String(KEY), nullable=False),
    Column("status", enum(SpecStatus), nullable=False), Column("approver", String(KEY)),
    Column("approved_at", UtcDateTime), Column("effective_from", UtcDateTime),
    Column("retired_at", UtcDateTime), UniqueConstraint("site", "specification", "version"),
)  # fmt: skip

limit_lines = Table(
    "limit_lines", metadata, _id(),
    Column("spec_version_id", ForeignKey("spec_versions.id"), nullable=False),
    Column("test_code", String(KEY), nullable=False),
    Column("limit", String(200), nullable=False), Column("alert", String(200)),
    Column("action", String(200)),
    Column("limit_set", String(KEY), nullable=False, server_default="release"),
)  # fmt: skip

# Per spec version and sampling point: the tests planned there and the limit set judging them.
sampling_plans = Table(
    "sampling_plans", metadata, _id(),
    Column("spec_version_id", ForeignKey("spec_versions.id"), nullable=False),
    Column("sampling_point", String(KEY), nullable=False),
    Column("limit_set", String(KEY), nullable=False), Column("tests", JSON, nullable=False),
    UniqueConstraint("spec_version_id", "sampling_point"),
)  # fmt: skip

characteristics = Table(
    "characteristics", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

mappings = Table(
    "mappings", metadata, _id(), _site(),
    Column("characteristic", String(KEY), nullable=False),
    Column("test_code", String(KEY), nullable=False), Column("sampling_point", String(KEY)),
    # Retired through a master-data change request (0033): from when, and by which (SITE/CODE).
    Column("retired_from", UtcDateTime), Column("retired_by", String(200)),
)  # fmt: skip

aliases = Table(
    "aliases", metadata, _id(), _site(),
    Column("system", enum(AliasSystem), nullable=False), Column("kind", String(32), nullable=False),
    Column("external_code", String(KEY), nullable=False),
    Column("canonical_code", String(KEY), nullable=False),
    Column("retired_from", UtcDateTime), Column("retired_by", String(200)),  # 0033, as mappings'
    UniqueConstraint("site", "system", "kind", "external_code"),
)  # fmt: skip

locations = Table(
    "locations", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

equipment = Table(
    "equipment", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    Column("location", String(KEY)), UniqueConstraint("site", "code"),
)  # fmt: skip

procedures = Table(
    "procedures", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("product", String(KEY), nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

procedural_elements = Table(
    "procedural_elements", metadata, _id(),
    Column("procedure_id", ForeignKey("procedures.id"), nullable=False),
    Column("path", String(300), nullable=False),
    Column("level", enum(Level), nullable=False), Column("name", String(200), nullable=False),
)  # fmt: skip

sampling_points = Table(
    "sampling_points", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("procedure", String(KEY), nullable=False),
    Column("phase_path", String(300), nullable=False),
    Column("sample_type", String(32), nullable=False),
    Column("gate", String(32), nullable=False, server_default="block"),
    Column("trended", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("site", "code"),
)  # fmt: skip

batches = Table(
    "batches", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("product", String(KEY), nullable=False),
    Column("procedure", String(KEY), nullable=False), Column("started_at", UtcDateTime),
    Column("released_by", String(KEY)), Column("released_at", UtcDateTime),
    UniqueConstraint("site", "code"),
)  # fmt: skip

samples = Table(
    "samples", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("mes_request_id", String(KEY)),
    Column("product", String(KEY), nullable=False),
    Column("specification", String(KEY), nullable=False),
    Column("spec_version", Integer, nullable=False),
    Column("sampled_at", UtcDateTime, nullable=False),
    Column("requested_by", String(KEY), nullable=False),
    Column("batch", String(KEY), index=True), Column("lot", String(KEY)),
    Column("equipment", String(KEY)), Column("sampling_point", String(KEY)),
    Column("container", String(KEY)), Column("lims_sample_id", String(KEY)),
    Column("status", enum(SampleStatus), nullable=False), Column("cancel_reason", Text),
    Column("stability_study", String(KEY)),
    Column("trended", Boolean, nullable=False, server_default=false()),
    Column("limit_set", String(KEY), nullable=False, server_default="release"),
    UniqueConstraint("site", "code"), UniqueConstraint("site", "mes_request_id"),
)  # fmt: skip

planned_tests = Table(
    "planned_tests", metadata, _id(),
    Column("sample_id", ForeignKey("samples.id"), nullable=False, index=True),
    Column("test_code", String(KEY), nullable=False), Column("method", String(KEY), nullable=False),
    Column("method_version", String(KEY), nullable=False),
    Column("limit", String(200), nullable=False), Column("unit", String(KEY)),
    Column("rounding_rule", enum(RoundingRule), nullable=False), Column("sig_figs", Integer),
    Column("alert", String(200)), Column("action", String(200)),
    Column("characteristic", String(KEY)), Column("status", enum(TestStatus), nullable=False),
)  # fmt: skip

results = Table(
    "results", metadata, _id(),
    Column("sample_id", ForeignKey("samples.id"), nullable=False, index=True),
    Column("code", String(KEY), nullable=False, index=True),
    Column("test_code", String(KEY), nullable=False),
    Column("raw_value", Text, nullable=False), Column("raw_unit", String(KEY)),
    Column("method", String(KEY), nullable=False),
    Column("method_version", String(KEY), nullable=False),
    Column("analyst", String(KEY), nullable=False),
    Column("entered_at", UtcDateTime, nullable=False),
    Column("limit_set", String(300), nullable=False),
    Column("status", enum(ResultStatus), nullable=False),
    # Any length (0012): exact conversion and rounding keep every digit the lab sent.
    Column("canonical_value", LongDecimalText), Column("canonical_unit", String(KEY)),
    Column("conversion_factor", LongDecimalText), Column("reported_value", LongDecimalText),
    Column("compared_value", LongDecimalText), Column("rounding", String(300)),
    Column("conforms", Boolean), Column("band", String(16)),
    Column("mes_status", enum(MesStatus), nullable=False),
    Column("reviewer", String(KEY)), Column("approved_at", UtcDateTime),
    Column("supersedes", String(KEY)), Column("superseded_by", String(KEY)),
    Column("invalidated_by", String(KEY)), Column("invalidated_at", UtcDateTime),
    Column("invalidation_reason", Text), UniqueConstraint("sample_id", "code"),
    Column("resolved_unit", String(KEY)),  # the dictionary unit raw_unit resolved to (0012)
    Column("reported_by", String(KEY)), Column("analyst_account", String(KEY)),
    Column("reviewer_account", String(KEY)),
    Column("status_map_version", Integer, nullable=False, server_default="0"),  # (0031)
)  # fmt: skip

deviations = Table(
    "deviations", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("kind", String(16), nullable=False),
    Column("sample", String(KEY), nullable=False),
    Column("result", String(KEY), nullable=False), Column("test_code", String(KEY), nullable=False),
    Column("analyst", String(KEY), nullable=False),
    Column("batch", String(KEY), index=True), Column("lot", String(KEY), index=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_by", String(KEY), nullable=False), Column("reason", Text, nullable=False),
    Column("state", enum(DeviationState), nullable=False, index=True),
    Column("phase1_conclusion", String(32)), Column("phase1_by", String(KEY)),
    Column("phase1_at", UtcDateTime), Column("phase1_reason", Text),
    Column("phase2_conclusion", String(32)), Column("phase2_by", String(KEY)),
    Column("phase2_at", UtcDateTime), Column("phase2_reason", Text),
    Column("capa", String(KEY)), Column("closed_by", String(KEY)),
    Column("closed_at", UtcDateTime), Column("closure_reason", Text),
    # One deviation per rejected result: a second opening is caught by the database too.
    UniqueConstraint("site", "code"), UniqueConstraint("site", "result"),
)  # fmt: skip

# What the IPC gates see of each sample at a sampling point, kept with the sample's changes.
gate_entries = Table(
    "gate_entries", metadata, _id(), _site(),
    Column("batch", String(KEY), nullable=False),
    Column("sampling_point", String(KEY), nullable=False),
    Column("sample", String(KEY), nullable=False),
    Column("mes_status", enum(MesStatus), nullable=False),
    Column("cancelled", Boolean, nullable=False),
    UniqueConstraint("site", "sample"),
    Index("ix_gate_entries_point", "site", "batch", "sampling_point"),
)  # fmt: skip

# What the MES was told about each operation's gate: one row per change.
gates_told = Table(
    "gates_told", metadata, _id(), _site(),
    Column("batch", String(KEY), nullable=False), Column("operation", String(300), nullable=False),
    Column("may_complete", Boolean, nullable=False), Column("waiting_for", Text, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("message_id", String(KEY), nullable=False),
    Index("ix_gates_told_latest", "site", "batch", "operation", "id"),
)  # fmt: skip

accounts = Table(
    "accounts", metadata, _id(),
    Column("username", String(KEY), nullable=False, unique=True),
    Column("printed_name", String(200), nullable=False),
    Column("roles", JSON, nullable=False), Column("kind", String(16), nullable=False),
    Column("password_hash", String(200)), Column("api_key_hash", String(64), unique=True),
    Column("active", Boolean, nullable=False), Column("failed_attempts", Integer, nullable=False),
    Column("locked_at", UtcDateTime),
    Column("locked_until", UtcDateTime),  # a lock ends by itself; none: until an admin unlocks
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
)  # fmt: skip

# Refusals earned without signing in, per client and minute (compliance/throttle.py).
client_refusals = Table(
    "client_refusals", metadata, Column("client", String(KEY), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("refused", Integer, nullable=False), Column("audited", Integer, nullable=False),
    Column("reasons", JSON, nullable=False), Column("pending", Boolean, nullable=False),
    Index("ix_client_refusals_pending", "pending"),
)  # fmt: skip

# Alerts for administrators (an account locked); the audit trail holds the same events.
notifications = Table(
    "notifications", metadata, _id(),
    Column("raised_at", UtcDateTime, nullable=False), Column("kind", String(KEY), nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(200), nullable=False), Column("message", Text, nullable=False),
)  # fmt: skip

signatures = Table(
    "signatures", metadata, _id(), _site(),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(KEY), nullable=False, index=True),
    Column("signer", String(KEY), nullable=False),
    Column("printed_name", String(200), nullable=False),
    Column("meaning", String(16), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
)  # fmt: skip

audit_entries = Table(
    "audit_entries", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    # `at` indexed: a periodic review reads a period of the trail (0029).
    Column("at", UtcDateTime, nullable=False, index=True), Column("site", String(KEY)),
    Column("actor", String(KEY), nullable=False, index=True),
    Column("actor_kind", String(16), nullable=False),
    Column("action", String(64), nullable=False, index=True),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(200), nullable=False, index=True),
    Column("before", JSON), Column("after", JSON), Column("reason", Text),
    Column("payload_hash", String(64)), Column("correlation_id", String(64), index=True),
    Column("prev_hash", String(64), nullable=False), Column("hash", String(64), nullable=False),
)  # fmt: skip

# Periodic audit-trail reviews (compliance/audit_review.py): the content as computed, the
# seeded spot-check sample with its marks, and the sign-off.
audit_reviews = Table(
    "audit_reviews", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False),
    Column("period_from", UtcDateTime, nullable=False),
    Column("period_to", UtcDateTime, nullable=False),
    Column("source", String(KEY)), Column("seed", BigInteger, nullable=False),
    Column("created_by", String(KEY), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("findings", JSON, nullable=False), Column("sample", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("state", enum(ReviewState), nullable=False, index=True),
    Column("comment", Text), Column("signed_by", String(KEY)),
    Column("signed_at", UtcDateTime),
    UniqueConstraint("site", "code"),
)  # fmt: skip

# One row: the head of the chain. Appenders lock it, so the chain never forks.
audit_head = Table(
    "audit_head", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False), Column("hash", String(64), nullable=False),
)  # fmt: skip

# Signed checkpoints of the head (seq, hash, time), append-only: they vouch that the trail
# reached that far, so a cut tail or a re-sealed chain shows (compliance/checkpoints.py).
audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("hash", String(64), nullable=False), Column("at", UtcDateTime, nullable=False),
    Column("kid", String(64), nullable=False), Column("public_jwk", JSON, nullable=False),
    Column("signature", Text, nullable=False),
)  # fmt: skip

# The Interface Control Document, one row per version and site: its content as generated (the
# canonical JSON whose SHA-256 is printed on every rendering) and its approval (domain/icd.py).
icd_versions = Table(
    "icd_versions", metadata, _id(), _site(),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", JSON, nullable=False),
    Column("generated_at", UtcDateTime, nullable=False),
    Column("generated_by", String(KEY), nullable=False),
    Column("status", enum(IcdStatus), nullable=False),
    Column("approved_by", String(KEY)), Column("approved_at", UtcDateTime),
    UniqueConstraint("site", "version"),
)  # fmt: skip

# Trusted time: every check of the hub's clock against the NTP server (its history: what was
# not ok is in the audit trail too), and the status each server's checks are in.
clock_checks = Table(
    "clock_checks", metadata, _id(),
    Column("server", String(200), nullable=False),
    Column("checked_at", UtcDateTime, nullable=False),
    Column("status", enum(ClockStatus), nullable=False),
    Column("threshold_ms", Float, nullable=False),
    Column("offset_ms", Float), Column("delay_ms", Float),
    Column("detail", Text, nullable=False),
    Index("ix_clock_checks_time", "checked_at"),
)  # fmt: skip

clock_states = Table(
    "clock_states", metadata,
    Column("server", String(200), primary_key=True),
    Column("status", enum(ClockStatus), nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("last_checked_at", UtcDateTime, nullable=False),
    Column("last_offset_ms", Float),
)  # fmt: skip

# Each source's clock as its envelopes show it: received_at - sent_at of every message applied
# (transit included; on a plant network that is milliseconds, so seconds are the sender's clock).
source_clock_skew = Table(
    "source_clock_skew", metadata,
    Column("source", String(KEY), primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("total_ms", BigInteger, nullable=False),
    Column("min_ms", BigInteger, nullable=False), Column("max_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("last_received_at", UtcDateTime, nullable=False),
)  # fmt: skip

outbox = Table(
    "outbox", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("site", String(KEY), nullable=False),
    Column("destination", String(16), nullable=False),
    Column("message_type", String(64), nullable=False),
    Column("schema", String(64), nullable=False),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("correlation_id", String(64)),
    Column("record_id", String(KEY), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    # Delivery by the relay: 'pending' -> 'delivered' | 'dead' | 'held' (changed after commit);
    # attempts in the current round.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", UtcDateTime), Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
    Column("sequence", BigInteger),
    # The audit entry (`outbox.sealed`) that holds the row's content hash, written at commit.
    Column("seal_seq", BigInteger),
)  # fmt: skip

# The relay's query: pending rows of one destination, oldest first.
Index("ix_outbox_due", outbox.c.status, outbox.c.destination, outbox.c.id)

# Every delivery attempt, whatever its outcome: evidence, append-only.
outbox_attempts = Table(
    "outbox_attempts", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("outbox_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("outbox.id"),
           nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False), Column("detail", Text),
)  # fmt: skip

counters = Table(
    "counters", metadata, Column("name", String(KEY), primary_key=True),
    Column("value", BigInteger, nullable=False),
)  # fmt: skip

status_rules = Table(
    "status_rules", metadata, _id(),
    Column("lims_status", enum(ResultStatus), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("mes_status", enum(MesStatus), nullable=False),
)  # fmt: skip

# --- change control: requests, and the status maps they put in force ------------------------

change_requests = Table(
    "change_requests", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("kind", enum(ChangeKind), nullable=False),
    Column("title", String(200), nullable=False), Column("reason", Text, nullable=False),
    Column("proposal", JSON, nullable=False), Column("author", String(KEY), nullable=False),
    Column("created_at", UtcDateTime, nullable=False), Column("effective_from", UtcDateTime),
    Column("state", enum(ChangeState), nullable=False, index=True),
    Column("assessment", JSON), Column("assessment_hash", String(64)),
    Column("assessed_at", UtcDateTime), Column("approver", String(KEY)),
    Column("approved_at", UtcDateTime), Column("applied_at", UtcDateTime),
    Column("closed_by", String(KEY)), Column("closed_at", UtcDateTime),
    Column("close_reason", Text), UniqueConstraint("site", "code"),
)  # fmt: skip

# A status map approved through a change request, written at its approval with its date: the
# latest whose date has come is in force (config_store.load_status_map); status_rules holds the
# map installed with the hub, in force until the first version's date.
status_map_versions = Table(
    "status_map_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("change_request", String(KEY), nullable=False), _site(),
    Column("rules", JSON, nullable=False),
)  # fmt: skip

# A channel allow-list approved through a change request, in force from its date (as the status
# map's versions); before the first, the LABGATE_CHANNEL_SCHEMAS setting holds.
channel_allow_list_versions = Table(
    "channel_allow_list_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("change_request", String(KEY), nullable=False), _site(),
    Column("channels", JSON, nullable=False),
)  # fmt: skip

# One row per kind of configuration that processes keep cached (adapters/store/config_store.py):
# source_keys, status_map, units, aliases. Every change of one moves its version in its own
# transaction; a transaction that uses the cache reads the versions first (migration 0024 seeds).
config_versions = Table(
    "config_versions", metadata, Column("kind", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
)  # fmt: skip

# --- interfaces: signed envelopes from other systems -------------------------------------------

# Public keys of the source systems, by key id; several may be valid at once (rotation overlap).
# A partner system's id for a person -> the labgate account it is (compliance/identities.py).
identity_map = Table(
    "identity_map", metadata, _id(),
    Column("source", String(KEY), nullable=False),
    Column("external_id", String(KEY), nullable=False),
    Column("account", String(KEY), nullable=False),
    Column("mapped_by", String(KEY), nullable=False),
    Column("mapped_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False), Column("active", Boolean, nullable=False),
    UniqueConstraint("source", "external_id"),
)  # fmt: skip

source_keys = Table(
    "source_keys", metadata, _id(),
    Column("source", String(KEY), nullable=False), Column("kid", String(KEY), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("valid_from", UtcDateTime, nullable=False), Column("valid_until", UtcDateTime),
    Column("registered_by", String(KEY), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime), Column("revoked_by", String(KEY)),
    Column("revoke_reason", Text), UniqueConstraint("source", "kid"),
)  # fmt: skip

# Every envelope accepted for processing, keyed by (source, message id): the de-duplication key.
inbox_messages = Table(
    "inbox_messages", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("source", String(KEY), nullable=False), Column("message_id", String(36), nullable=False),
    Column("stream", String(KEY), nullable=False), Column("sequence", BigInteger, nullable=False),
    Column("schema", String(64), nullable=False), Column("site", String(KEY), nullable=False),
    Column("correlation_id", String(64)), Column("channel", String(16), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload_hash", String(64), nullable=False), Column("raw", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False), Column("applied_at", UtcDateTime),
    UniqueConstraint("source", "message_id"),
    # Releasing held messages looks one up by its place on the stream, once per message.
    Index("ix_inbox_stream_place", "source", "stream", "sequence"),
)  # fmt: skip

# The last sequence number applied per (source, stream): messages ahead of a gap wait.
stream_positions = Table(
    "stream_positions", metadata,
    Column("source", String(KEY), primary_key=True),
    Column("stream", String(KEY), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)  # fmt: skip

# Every rejected message, with its raw bytes: nothing is dropped silently.
quarantine = Table(
    "quarantine", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("channel", String(16), nullable=False), Column("source", String(KEY)),
    Column("message_id", String(64)), Column("raw", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("reason_code", String(64), nullable=False), Column("field", String(200)),
    Column("detail", Text, nullable=False), Column("status", String(16), nullable=False),
    Column("resolved_by", String(KEY)), Column("resolved_at", UtcDateTime),
    Column("resolution_reason", Text),
)  # fmt: skip

# --- raw materials: received lots and their skip-lot plans -------------------------------------

# One SkSP-2 plan per (material, supplier): its parameters (changed under change control) and
# its running state, moved on by every lot's disposition.
skip_lot_plans = Table(
    "skip_lot_plans", metadata, _id(), _site(),
    Column("material", String(KEY), nullable=False),
    Column("supplier", String(KEY), nullable=False),
    Column("specification", String(KEY), nullable=False),
    Column("identity_tests", JSON, nullable=False), Column("clearance", Integer, nullable=False),
    Column("fraction", DecimalText, nullable=False),
    Column("changed_by", String(KEY), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    Column("state", enum(InspectionState), nullable=False),
    Column("consecutive_accepted", Integer, nullable=False),
    UniqueConstraint("site", "material", "supplier"),
)  # fmt: skip

# A received lot: quarantined with its sample, the draw that decided its panel, the supplier's CoA.
received_lots = Table(
    "received_lots", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("material", String(KEY), nullable=False),
    Column("supplier", String(KEY), nullable=False),
    Column("supplier_lot", String(KEY), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("received_by", String(KEY), nullable=False),
    Column("sample", String(KEY), nullable=False),
    Column("inspection_state", enum(InspectionState), nullable=False),
    Column("full_panel", Boolean, nullable=False), Column("draw", DecimalText),
    Column("status", enum(LotStatus), nullable=False, index=True),
    Column("decided_by", String(KEY)), Column("decided_at", UtcDateTime),
    Column("decision_reason", Text), Column("supplier_coa", JSON, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

# --- environmental monitoring: graded rooms, points, routes, site limits, rounds, excursions ---

em_locations = Table(
    "em_locations", metadata, _id(), _site(),
    Column("location", String(KEY), nullable=False),
    Column("grade", enum(CleanroomGrade), nullable=False),
    Column("room", String(KEY), nullable=False, index=True),
    Column("lookback_days", Integer, nullable=False),
    Column("changed_by", String(KEY), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    UniqueConstraint("site", "location"),
)  # fmt: skip

em_points = Table(
    "em_points", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("location", String(KEY), nullable=False),
    Column("sample_type", enum(EmSampleType), nullable=False),
    Column("description", String(200), nullable=False),
    Column("alerts_to_deviation", Integer, nullable=False),
    Column("changed_by", String(KEY), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

em_routes = Table(
    "em_routes", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("name", String(200), nullable=False),
    Column("points", JSON, nullable=False),
    Column("changed_by", String(KEY), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

em_schedules = Table(
    "em_schedules", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("route", String(KEY), nullable=False),
    Column("state", enum(OperationalState), nullable=False),
    Column("frequency", enum(Frequency), nullable=False),
    Column("next_due", UtcDateTime, nullable=False),
    Column("changed_by", String(KEY), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

# Every version of a site limit is kept: a sample is judged by the one in force when it was taken.
em_site_limits = Table(
    "em_site_limits", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False),
    Column("grade", enum(CleanroomGrade), nullable=False),
    Column("state", enum(OperationalState), nullable=False),
    Column("sample_type", enum(EmSampleType), nullable=False),
    Column("location", String(KEY)), Column("action", Integer), Column("alert", Integer),
    Column("effective_from", UtcDateTime, nullable=False), Column("reason", Text, nullable=False),
    Column("approved_by", String(KEY), nullable=False),
    Column("approved_at", UtcDateTime, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

em_rounds = Table(
    "em_rounds", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("route", String(KEY), nullable=False),
    Column("schedule", String(KEY)), Column("state", enum(OperationalState), nullable=False),
    Column("planned_at", UtcDateTime, nullable=False),
    Column("started_by", String(KEY), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    UniqueConstraint("site", "code"),
)  # fmt: skip

em_samples = Table(
    "em_samples", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("round", String(KEY), nullable=False),
    Column("point", String(KEY), nullable=False, index=True),
    Column("location", String(KEY), nullable=False),
    Column("grade", enum(CleanroomGrade), nullable=False),
    Column("state", enum(OperationalState), nullable=False),
    Column("sample_type", enum(EmSampleType), nullable=False),
    Column("planned_at", UtcDateTime, nullable=False),
    Column("status", enum(EmSampleStatus), nullable=False),
    Column("sampled_at", UtcDateTime), Column("count", DecimalText), Column("unit", String(KEY)),
    Column("counted_by", String(KEY)), Column("counted_at", UtcDateTime),
    Column("outcome", enum(EmOutcome)), Column("action_limit", Integer),
    Column("alert_limit", Integer), Column("action_source", String(200)),
    Column("alert_source", String(200)), Column("limit_version", String(KEY)),
    Column("excursion", String(KEY)),
    UniqueConstraint("site", "code"),
)  # fmt: skip

em_excursions = Table(
    "em_excursions", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("sample", String(KEY), nullable=False),
    Column("point", String(KEY), nullable=False), Column("location", String(KEY), nullable=False),
    Column("room", String(KEY), nullable=False),
    Column("outcome", enum(EmOutcome), nullable=False),
    Column("count", DecimalText, nullable=False), Column("exceeded_limit", Integer, nullable=False),
    Column("sampled_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(KEY), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("deviation", String(KEY), index=True),
    UniqueConstraint("site", "code"),
)  # fmt: skip

room_occupancy = Table(
    "room_occupancy", metadata, _id(), _site(),
    Column("batch", String(KEY), nullable=False),
    Column("location", String(KEY), nullable=False, index=True),
    Column("from_at", UtcDateTime, nullable=False), Column("to_at", UtcDateTime),
    Column("reported_by", String(KEY), nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
)  # fmt: skip

# --- stability studies and out-of-trend alerts -------------------------------------------------

# A study's protocol (conditions, time points, tests, criteria) and its lifecycle.
stability_studies = Table(
    "stability_studies", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("product", String(KEY), nullable=False),
    Column("batch", String(KEY), nullable=False), Column("conditions", JSON, nullable=False),
    Column("time_points", JSON, nullable=False), Column("tests", JSON, nullable=False),
    Column("criteria", JSON, nullable=False), Column("start_at", UtcDateTime, nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("author", String(KEY), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", enum(StudyStatus), nullable=False),
    Column("approver", String(KEY)), Column("approved_at", UtcDateTime),
    Column("closed_by", String(KEY)), Column("closed_at", UtcDateTime),
    Column("close_reason", Text), UniqueConstraint("site", "code"),
)  # fmt: skip

# A pull done: one per (study, condition, time point), caught by the database too.
stability_pulls = Table(
    "stability_pulls", metadata, _id(), _site(),
    Column("study", String(KEY), nullable=False), Column("product", String(KEY), nullable=False),
    Column("batch", String(KEY), nullable=False),
    Column("condition", String(KEY), nullable=False), Column("months", Integer, nullable=False),
    Column("due_at", UtcDateTime, nullable=False), Column("sample", String(KEY), nullable=False),
    Column("pulled_at", UtcDateTime, nullable=False),
    Column("pulled_by", String(KEY), nullable=False), Column("window_reason", Text),
    UniqueConstraint("site", "study", "condition", "months"),
    Index("ix_stability_pulls_series", "site", "product", "condition"),
)  # fmt: skip

# An approved result outside its trend; one alert per result.
oot_alerts = Table(
    "oot_alerts", metadata, _id(), _site(),
    Column("code", String(KEY), nullable=False), Column("kind", String(16), nullable=False),
    Column("result", String(KEY), nullable=False), Column("sample", String(KEY), nullable=False),
    Column("batch", String(KEY), index=True), Column("test_code", String(KEY), nullable=False),
    Column("series", String(200), nullable=False), Column("time", DecimalText, nullable=False),
    Column("value", LongDecimalText, nullable=False),  # a result's canonical value (0012)
    Column("predicted", DecimalText, nullable=False),
    Column("lower", DecimalText, nullable=False), Column("upper", DecimalText, nullable=False),
    Column("alpha", DecimalText, nullable=False), Column("method", String(200), nullable=False),
    Column("history_size", Integer, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("raised_by", String(KEY), nullable=False),
    Column("analyst", String(KEY), nullable=False),
    Column("status", enum(AlertStatus), nullable=False, index=True),
    Column("acknowledged_by", String(KEY)), Column("acknowledged_at", UtcDateTime),
    Column("assessment", Text),
    UniqueConstraint("site", "code"), UniqueConstraint("site", "result"),
)  # fmt: skip

# The console's signed-in sessions (entrypoints/web/sessions.py). Only the SHA-256 of the
# random session token is kept: a copy of this table signs nobody in.
console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(KEY), nullable=False, index=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime), Column("ended_why", String(64)),
)  # fmt: skip

# --- data quality: each run of the rules at a site, and each rule's line in it ----------------

dq_runs = Table(
    "dq_runs", metadata, _id(), _site(),
    Column("started_at", UtcDateTime, nullable=False),
    Column("started_by", String(KEY), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("rules", Integer, nullable=False), Column("breaches", Integer, nullable=False),
    Index("ix_dq_runs_site", "site", "id"),
)  # fmt: skip

dq_rule_results = Table(
    "dq_rule_results", metadata, _id(),
    Column("run_id", ForeignKey("dq_runs.id"), nullable=False, index=True),
    Column("rule", String(32), nullable=False), Column("dimension", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("measured", BigInteger, nullable=False),
    Column("population", BigInteger, nullable=False),
    Column("threshold", String(200), nullable=False),
    Column("status", enum(DqStatus), nullable=False),
    Column("examples", JSON, nullable=False), Column("deviation", String(KEY)),
)  # fmt: skip

# The timeliness rules count old records in one state: these find them without a scan.
Index("ix_samples_status_age", samples.c.site, samples.c.status, samples.c.sampled_at)
Index("ix_results_status_age", results.c.status, results.c.entered_at)
Index("ix_inbox_status_age", inbox_messages.c.status, inbox_messages.c.received_at)
Index("ix_outbox_status_age", outbox.c.status, outbox.c.created_at)
# Cross-posting mappings are found per (site, test) group.
Index("ix_mappings_test", mappings.c.site, mappings.c.test_code)
