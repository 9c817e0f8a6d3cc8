"""The typed items of the lists, so the OpenAPI describes what a client gets back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from labgate.domain.deviations import DeviationState
from labgate.domain.lifecycle import SampleStatus

# Integers in answers carry their bounds too: a generated client picks its integer type by them.
RowNumber = Annotated[int, Field(ge=1, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]


class SiteItem(BaseModel):
    """A site: the namespace of every other identifier."""

    code: str
    name: str


class SiteList(BaseModel):
    """The sites the caller can see, by code."""

    items: list[SiteItem]


class BatchItem(BaseModel):
    """A batch as a production supervisor scans them: hold and QA disposition."""

    code: str
    product: str
    procedure: str
    started_at: datetime | None
    on_hold: bool
    disposition: Literal["pending", "released", "rejected"]


class ReviewItem(BaseModel):
    """A preliminary result waiting for a reviewer's approval."""

    result: str
    sample: str
    batch: str | None
    lot: str | None
    product: str
    sampling_point: str | None
    test_code: str
    raw_value: str
    raw_unit: str | None
    reported_value: Decimal | None = Field(description="Rounded per method; exact, as text.")
    canonical_unit: str | None
    conforms: bool | None
    band: str | None
    analyst: str
    entered_at: datetime


class SampleItem(BaseModel):
    """A sample in a list; `GET .../samples/{code}` has its tests and results."""

    code: str
    mes_request_id: str | None
    product: str
    batch: str | None
    lot: str | None
    sampling_point: str | None
    specification: str
    spec_version: RowNumber
    status: SampleStatus
    sampled_at: datetime


class OutboxItem(BaseModel):
    """A message owed to the MES or the LIMS, with its delivery state."""

    id: RowNumber
    site: str
    destination: str
    message_type: str
    schema_: str = Field(alias="schema")
    message_id: str
    correlation_id: str | None
    record_id: str
    payload: dict[str, Any]
    created_at: datetime
    status: Literal["pending", "delivered", "dead", "held"]
    attempts: Count
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    sequence: Count | None
    seal_seq: Count | None


class DeviationItem(BaseModel):
    """A deviation in a list; `GET .../deviations/{code}` has its steps and signatures."""

    code: str
    kind: str
    state: DeviationState
    sample: str
    result: str
    batch: str | None
    lot: str | None
    opened_at: datetime
    capa: str | None
