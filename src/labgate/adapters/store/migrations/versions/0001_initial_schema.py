"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("api_key_hash", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_accounts_api_key_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_accounts_username")),
    )
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column(
            "system",
            sa.Enum("ERP", "MES", "LIMS", name="aliassystem", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("external_code", sa.String(length=64), nullable=False),
        sa.Column("canonical_code", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
        sa.UniqueConstraint(
            "site",
            "system",
            "kind",
            "external_code",
            name=op.f("uq_aliases_site_system_kind_external_code"),
        ),
    )
    op.create_table(
        "audit_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_record_id"), ["record_id"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_batches_site_code")),
    )
    op.create_table(
        "characteristics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_characteristics")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_characteristics_site_code")),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "equipment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_equipment_site_code")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_locations_site_code")),
    )
    op.create_table(
        "lots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lots")),
        sa.UniqueConstraint("site", "material", "code", name=op.f("uq_lots_site_material_code")),
    )
    op.create_table(
        "mappings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("characteristic", sa.String(length=64), nullable=False),
        sa.Column("test_code", sa.String(length=64), nullable=False),
        sa.Column("sampling_point", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mappings")),
    )
    op.create_table(
        "materials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_materials")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_materials_site_code")),
    )
    op.create_table(
        "method_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column(
            "rounding_rule",
            sa.Enum(
                "usp", "astm-e29", "absolute", name="roundingrule", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("sig_figs", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_method_versions")),
        sa.UniqueConstraint(
            "site", "method", "version", name=op.f("uq_method_versions_site_method_version")
        ),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("schema", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    op.create_table(
        "procedures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedures")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_procedures_site_code")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("specification", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_products_site_code")),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("mes_request_id", sa.String(length=64), nullable=True),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("specification", sa.String(length=64), nullable=False),
        sa.Column("spec_version", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("equipment", sa.String(length=64), nullable=True),
        sa.Column("sampling_point", sa.String(length=64), nullable=True),
        sa.Column("container", sa.String(length=64), nullable=True),
        sa.Column("lims_sample_id", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "registered",
                "in_testing",
                "completed",
                "cancelled",
                name="samplestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_samples_site_code")),
        sa.UniqueConstraint("site", "mes_request_id", name=op.f("uq_samples_site_mes_request_id")),
    )
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_samples_batch"), ["batch"], unique=False)

    op.create_table(
        "sampling_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("phase_path", sa.String(length=300), nullable=False),
        sa.Column("sample_type", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_points")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_sampling_points_site_code")),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("meaning", sa.String(length=16), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
    )
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signatures_record_id"), ["record_id"], unique=False)

    op.create_table(
        "sites",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sites")),
    )
    op.create_table(
        "spec_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("specification", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                "effective",
                "retired",
                name="specstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("approver", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spec_versions")),
        sa.UniqueConstraint(
            "site",
            "specification",
            "version",
            name=op.f("uq_spec_versions_site_specification_version"),
        ),
    )
    op.create_table(
        "status_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "lims_status",
            sa.Enum(
                "preliminary",
                "approved",
                "invalidated",
                name="resultstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "mes_status",
            sa.Enum(
                "Pending", "Accepted", "Rejected", name="messtatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_rules")),
    )
    op.create_table(
        "test_definitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("current_method_version", sa.String(length=64), nullable=False),
        sa.Column("value_kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_definitions")),
        sa.UniqueConstraint("site", "code", name=op.f("uq_test_definitions_site_code")),
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("precision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
    )
    op.create_table(
        "limit_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("spec_version_id", sa.Integer(), nullable=False),
        sa.Column("test_code", sa.String(length=64), nullable=False),
        sa.Column("limit", sa.String(length=200), nullable=False),
        sa.Column("alert", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["spec_version_id"],
            ["spec_versions.id"],
            name=op.f("fk_limit_lines_spec_version_id_spec_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_lines")),
    )
    op.create_table(
        "planned_tests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("test_code", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("method_version", sa.String(length=64), nullable=False),
        sa.Column("limit", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column(
            "rounding_rule",
            sa.Enum(
                "usp", "astm-e29", "absolute", name="roundingrule", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("sig_figs", sa.Integer(), nullable=True),
        sa.Column("alert", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=True),
        sa.Column("characteristic", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "in_progress",
                "completed",
                "cancelled",
                name="teststatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_planned_tests_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planned_tests")),
    )
    with op.batch_alter_table("planned_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_planned_tests_sample_id"), ["sample_id"], unique=False)

    op.create_table(
        "procedural_elements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "PROCEDURE",
                "UNIT_PROCEDURE",
                "OPERATION",
                "PHASE",
                name="level",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["procedures.id"],
            name=op.f("fk_procedural_elements_procedure_id_procedures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedural_elements")),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("test_code", sa.String(length=64), nullable=False),
        sa.Column("raw_value", sa.Text(), nullable=False),
        sa.Column("raw_unit", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("method_version", sa.String(length=64), nullable=False),
        sa.Column("analyst", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limit_set", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "preliminary",
                "approved",
                "invalidated",
                name="resultstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("canonical_value", sa.String(length=64), nullable=True),
        sa.Column("canonical_unit", sa.String(length=64), nullable=True),
        sa.Column("conversion_factor", sa.String(length=64), nullable=True),
        sa.Column("reported_value", sa.String(length=64), nullable=True),
        sa.Column("compared_value", sa.String(length=64), nullable=True),
        sa.Column("rounding", sa.String(length=300), nullable=True),
        sa.Column("conforms", sa.Boolean(), nullable=True),
        sa.Column("band", sa.String(length=16), nullable=True),
        sa.Column(
            "mes_status",
            sa.Enum(
                "Pending", "Accepted", "Rejected", name="messtatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supersedes", sa.String(length=64), nullable=True),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.Column("invalidated_by", sa.String(length=64), nullable=True),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidation_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_results_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint("sample_id", "code", name=op.f("uq_results_sample_id_code")),
    )
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_results_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_results_sample_id"), ["sample_id"], unique=False)

    _seed()
    _guard_records()


def downgrade() -> None:
    _unguard_records()
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_sample_id"))
        batch_op.drop_index(batch_op.f("ix_results_code"))

    op.drop_table("results")
    op.drop_table("procedural_elements")
    with op.batch_alter_table("planned_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_planned_tests_sample_id"))

    op.drop_table("planned_tests")
    op.drop_table("limit_lines")
    op.drop_table("units")
    op.drop_table("test_definitions")
    op.drop_table("status_rules")
    op.drop_table("spec_versions")
    op.drop_table("sites")
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signatures_record_id"))

    op.drop_table("signatures")
    op.drop_table("sampling_points")
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_samples_batch"))

    op.drop_table("samples")
    op.drop_table("products")
    op.drop_table("procedures")
    op.drop_table("outbox")
    op.drop_table("method_versions")
    op.drop_table("materials")
    op.drop_table("mappings")
    op.drop_table("lots")
    op.drop_table("locations")
    op.drop_table("equipment")
    op.drop_table("counters")
    op.drop_table("characteristics")
    op.drop_table("batches")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_record_id"))

    op.drop_table("audit_entries")
    op.drop_table("aliases")
    op.drop_table("accounts")


# Records the database itself keeps safe: the trail and signatures are append-only, and
# GxP records are never deleted (nothing is ever deleted, only superseded or cancelled).
APPEND_ONLY = ("audit_entries", "signatures")
NEVER_DELETED = ("samples", "planned_tests", "results", "spec_versions", "limit_lines", "accounts")


def _seed() -> None:
    op.bulk_insert(
        sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    op.bulk_insert(
        sa.table(
            "status_rules",
            sa.column("lims_status"),
            sa.column("outcome"),
            sa.column("mes_status"),
        ),
        [
            {"lims_status": "preliminary", "outcome": "any", "mes_status": "Pending"},
            {"lims_status": "approved", "outcome": "conforms", "mes_status": "Accepted"},
            {"lims_status": "approved", "outcome": "not_conforming", "mes_status": "Rejected"},
            {"lims_status": "invalidated", "outcome": "any", "mes_status": "Pending"},
        ],
    )


def _guard_records() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(
            "CREATE FUNCTION labgate_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'labgate: % on % is refused: %', TG_OP, TG_TABLE_NAME, "
            "'GxP records are append-only'; END $$"
        )
    guarded = [(t, "UPDATE") for t in APPEND_ONLY] + [
        (t, "DELETE") for t in APPEND_ONLY + NEVER_DELETED
    ]
    for table, op_name in guarded:
        name = f"{table}_no_{op_name.lower()}"
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'labgate: {op_name} on {table} is refused: "
                "GxP records are append-only'); END"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {op_name} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION labgate_refuse()"
            )
    if not sqlite:
        for table in APPEND_ONLY + NEVER_DELETED:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION labgate_refuse()"
            )


def _unguard_records() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    guarded = [(t, "update") for t in APPEND_ONLY] + [
        (t, "delete") for t in APPEND_ONLY + NEVER_DELETED
    ]
    for table, op_name in guarded:
        on = "" if sqlite else f" ON {table}"
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op_name}{on}")
    if not sqlite:
        for table in APPEND_ONLY + NEVER_DELETED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS labgate_refuse()")
