"""Commands: imperative, frozen, carrying who asks and the trace they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MessageRef:
    """The message a command came in, by its key in the inbox: where a change came from (its
    raw bytes, channel and place on its stream are the inbox's, not the domain's)."""

    source: str
    message_id: str


@dataclass(frozen=True)
class Context:
    """Who is acting, as what kind of account, under which correlation id."""

    actor: str
    actor_kind: str = "person"
    correlation_id: str | None = None
    payload_hash: str | None = None
    message: MessageRef | None = None
    client: str | None = None  # the caller's address: refusals without sign-in count against it


@dataclass(frozen=True)
class SignatureInput:
    """Both signature components re-entered at signing (21 CFR 11.200(a)), and the meaning."""

    username: str
    password: str
    meaning: str


@dataclass(frozen=True)
class Command:
    """Base of every command."""

    ctx: Context


@dataclass(frozen=True)
class ImportMasterData(Command):
    """Load or update master data from one document (YAML or JSON), under change control.
    `seen_plan`, when given, is the preview's `plan_hash`: the import is refused if it would
    now change anything else than what was previewed."""

    document: dict[str, Any]
    reason: str
    seen_plan: str | None = None


@dataclass(frozen=True)
class PreviewMasterDataImport(Command):
    """What loading one document would change, planned as the import plans it; nothing is
    written."""

    document: dict[str, Any]


@dataclass(frozen=True)
class ApproveSpecVersion(Command):
    """QA approves a specification version with an e-signature. `seen_content`, when given, is
    the content hash of the version as the signer's page showed it (stale-page guard)."""

    site: str
    specification: str
    version: int
    signature: SignatureInput
    seen_content: str | None = None


@dataclass(frozen=True)
class GenerateIcd(Command):
    """A new draft version of the site's ICD from `content` (generated from the configuration
    in force), unless the newest version already says exactly that."""

    site: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class ApproveIcd(Command):
    """QA approves an ICD version with an e-signature; `seen_sha256`, when given, is the hash
    the signer's page or command showed (it must still be the version's)."""

    site: str
    version: int
    signature: SignatureInput
    seen_sha256: str | None = None


@dataclass(frozen=True)
class MakeSpecVersionEffective(Command):
    """Put an approved specification version in force from a date."""

    site: str
    specification: str
    version: int
    effective_from: datetime
    reason: str


@dataclass(frozen=True)
class RequestSample(Command):
    """The MES asks for a sample from a step (guide §05, step 1)."""

    site: str
    mes_request_id: str | None
    product: str
    sampled_at: datetime
    batch: str | None = None
    lot: str | None = None
    equipment: str | None = None
    sampling_point: str | None = None
    container: str | None = None
    characteristics: tuple[str, ...] = ()
    register_now: bool = False


@dataclass(frozen=True)
class RegisterSample(Command):
    """The lab has the sample (guide §05, step 2)."""

    site: str
    sample: str
    lims_sample_id: str | None = None


@dataclass(frozen=True)
class CancelSample(Command):
    """Cancel a sample, with a reason."""

    site: str
    sample: str
    reason: str


@dataclass(frozen=True)
class RecordResult(Command):
    """A result from the lab, as reported: preliminary, or already reviewed in an external LIMS."""

    site: str
    sample: str
    test_code: str
    value: str
    unit: str | None
    method_version: str
    analyst: str
    retest_of: str | None = None
    reviewer: str | None = None
    approved_at: datetime | None = None
    lims_status: str = "preliminary"


@dataclass(frozen=True)
class ApproveResult(Command):
    """A reviewer approves a result with an e-signature (native lab)."""

    site: str
    result: str
    signature: SignatureInput
    # The content hash of the result the reviewer saw (the console's stale-page guard).
    seen_content: str | None = None


@dataclass(frozen=True)
class SeenResult:
    """A result as a reviewer was shown it: its code and the content hash of what was shown."""

    result: str
    seen_content: str


@dataclass(frozen=True)
class ApproveResults(Command):
    """A reviewer approves several results under one e-signature check; each result gets its own
    signature record bound to its own content. All of them, or none."""

    site: str
    results: tuple[SeenResult, ...]
    signature: SignatureInput


@dataclass(frozen=True)
class InvalidateResult(Command):
    """Invalidate a result, with a reason; an e-signature for people, none for a LIMS account."""

    site: str
    result: str
    reason: str
    signature: SignatureInput | None = None
    # The content hash of the result the reviewer saw (the console's stale-page guard).
    seen_content: str | None = None


@dataclass(frozen=True)
class CreateAccount(Command):
    """Create a person or a system account."""

    username: str
    printed_name: str
    roles: tuple[str, ...]
    password: str | None = None
    kind: str = "person"
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReleaseBatch(Command):
    """QA releases a batch with an e-signature, only on approved, accepted results."""

    site: str
    batch: str
    signature: SignatureInput


@dataclass(frozen=True)
class RejectBatch(Command):
    """QA rejects a batch with an e-signature and a reason."""

    site: str
    batch: str
    reason: str
    signature: SignatureInput


@dataclass(frozen=True)
class SignIn(Command):
    """A person signs in with user id and password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RecordResults(Command):
    """Many results in one transaction (a file pack or a LIMS batch): all or none."""

    results: tuple[RecordResult, ...]


@dataclass(frozen=True)
class ChangeAccountState(Command):
    """Unlock, deactivate or reactivate an account, with a reason (Annex 11 §12.3)."""

    username: str
    action: str  # "unlock" | "deactivate" | "reactivate"
    reason: str
