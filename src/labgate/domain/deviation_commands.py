"""Commands of an OOS investigation: each step signed by a person who may take it."""

from __future__ import annotations

from dataclasses import dataclass

from labgate.domain.commands import Command, SignatureInput


@dataclass(frozen=True)
class ConcludePhaseOne(Command):
    """The laboratory investigation's signed finding: an assignable cause invalidates the
    result (a retest follows), none opens the full investigation."""

    site: str
    deviation: str
    conclusion: str
    reason: str
    signature: SignatureInput


@dataclass(frozen=True)
class ConcludePhaseTwo(Command):
    """The full investigation's signed finding: the OOS is confirmed or not, with a rationale."""

    site: str
    deviation: str
    conclusion: str
    rationale: str
    signature: SignatureInput


@dataclass(frozen=True)
class CloseDeviation(Command):
    """QA approves the conclusion and closes, with the CAPA reference a confirmed OOS needs."""

    site: str
    deviation: str
    reason: str
    signature: SignatureInput
    capa: str | None = None
