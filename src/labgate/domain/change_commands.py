"""Commands of change control: raise, assess, approve (e-signed), reject, withdraw, apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.domain.commands import Command, SignatureInput


@dataclass(frozen=True)
class RaiseChangeRequest(Command):
    """A draft change request; its author is the signed-in caller (ctx.actor)."""

    site: str
    kind: str
    title: str
    reason: str
    proposal: dict[str, Any]
    effective_from: datetime | None = None


@dataclass(frozen=True)
class AssessChangeRequest(Command):
    """Compute the request's impact from the store and keep it with its hash."""

    site: str
    code: str


@dataclass(frozen=True)
class ApproveChangeRequest(Command):
    """QA approves with an e-signature over the request and its assessment. `seen_assessment`,
    when given, is the assessment hash the signer's page showed."""

    site: str
    code: str
    signature: SignatureInput
    seen_assessment: str | None = None


@dataclass(frozen=True)
class RejectChangeRequest(Command):
    """QA rejects an assessed request, with a reason."""

    site: str
    code: str
    reason: str


@dataclass(frozen=True)
class WithdrawChangeRequest(Command):
    """The request is withdrawn before approval, with a reason."""

    site: str
    code: str
    reason: str


@dataclass(frozen=True)
class ApplyDueChanges(Command):
    """Put in force every approved request whose date has come (None: every site)."""

    site: str | None = None
