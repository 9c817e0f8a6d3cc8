"""The building blocks of typed answers: what a generated client sees, checked on every answer.

An answer model is the contract, not a reshaping: the read models already render values for the
wire (exact decimals as text, UTC times in one fixed form), and these types keep those bytes as
they are while telling the OpenAPI what they are. `Answer` forbids undeclared members, so a read
model that grows a field without its answer model growing too fails its tests instead of the field
being dropped silently.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# `2026-11-25T10:00:00.000000Z`: compliance/clock.iso_utc's one fixed form (hashes depend on it).
UtcTime = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-25T10:00:00.000000Z"],
        description="UTC, ISO 8601, to the microsecond.",
    ),
]
# `2026-11-25 11:00:00 +01:00`: domain/local_time.py, as a person at the site reads it.
SiteTime = Annotated[
    str,
    Field(
        examples=["2026-11-25 11:00:00 +01:00"],
        description="The site's local time to the second, with its UTC offset.",
    ),
]
# Exact decimals travel as text: `96.90` keeps its trailing zero; a float would not.
ExactNumber = Annotated[
    str,
    Field(examples=["96.90"], description="An exact decimal as text, as stored (never a float)."),
]
Code = Annotated[str, Field(min_length=1, max_length=64, description="A business key.")]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lower-case hex.")]


class Answer(BaseModel):
    """Base of every answer model: undeclared members are a fault, not silently dropped."""

    model_config = ConfigDict(extra="forbid")
