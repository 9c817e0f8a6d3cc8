"""Answers of a replay: each step of a stored decision, stored against recomputed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from labgate.entrypoints.api.wire import Answer, Code

Verdict = Literal["identical", "differs"]


class ReplayDifference(Answer):
    """One field of a step that replayed differently."""

    field: str
    stored: Any = Field(description="The field as stored (its canonical JSON value).")
    recomputed: Any = Field(description="The field as replaying the record gives it.")


class ReplayStep(Answer):
    """One stage of one record's decision: binding, conversion, rounding, evaluation,
    mes_status (a result's); sample_status, disposition_checks, decision (a batch's)."""

    subject: str = Field(description='The record the step is about, e.g. "result S-000001-R1".')
    step: str
    outcome: Verdict
    stored: dict[str, Any]
    recomputed: dict[str, Any]
    differences: list[ReplayDifference]


class Replay(Answer):
    """A stored decision recomputed from its record and the versions it was bound to, compared
    step by step in canonical bytes (RFC 8785)."""

    record_type: Literal["result", "batch"]
    site: Code
    code: Code
    outcome: Verdict
    differing_steps: list[str] = Field(description='Each as "<record>: <step>".')
    steps: list[ReplayStep]
