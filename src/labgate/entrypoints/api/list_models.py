"""The typed items of the lists, so the OpenAPI describes what a client gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

# Integers in answers carry their bounds too: a generated client picks its integer type by them.
RowNumber = Annotated[int, Field(ge=1, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]


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
