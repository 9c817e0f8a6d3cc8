"""Versioned message payloads: the rules every envelope's `payload` follows, in both directions.

Inbound payloads (from the MES or a LIMS) are parsed here and become one command each;
outbound payloads are built as these models (service/reactions/messages.py, gate_push.py) and
sent as their JSON form. Schema ids are
`labgate.<type>.v<N>` and never repeat across directions: a reader can tell from the id alone
what a message is. The published JSON Schemas (`schema_catalog.json_schemas`) are generated
from these models, so the code is the specification.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from labgate.compliance.clock import iso_utc
from labgate.domain.commands import (
    CancelSample,
    Command,
    Context,
    InvalidateResult,
    RecordResult,
    RegisterSample,
    RequestSample,
)
from labgate.domain.errors import InvalidInput
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.limits import Band
from labgate.domain.status_map import MesStatus

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/%-]*$"
KEY_LENGTH = 64  # the store's limit for codes, user ids and sites
VALUE_LENGTH = 200  # a result's raw text
REASON_LENGTH = 2000
FIELD_LENGTH = 200  # the quarantine's and trail's limit for the field at fault
SCHEMA_URN = "urn:labgate:schema:"
# An instant with its offset, as sent; held in UTC from here on (one tzinfo, the trusted clock's).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda moment: moment.astimezone(UTC))]


def code(default: Any = ...) -> Any:
    """A business key: short, no spaces, no control characters."""
    return Field(default, min_length=1, max_length=KEY_LENGTH, pattern=CODE_PATTERN)


def key_text(default: Any = ...) -> Any:
    """Text another party chose (a LIMS's sample id, a container's label, a unit as sent):
    bounded like a key, otherwise free."""
    return Field(default, max_length=KEY_LENGTH)


def reason_text() -> Any:
    """A reason given for a change: never empty, bounded."""
    return Field(min_length=1, max_length=REASON_LENGTH)


class Payload(BaseModel):
    """A message payload: unknown members are refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Inbound(Payload):
    """A payload that arrives from the MES or a LIMS and becomes exactly one command."""

    @abstractmethod
    def to_command(self, ctx: Context, site: str) -> Command:
        """The command this payload asks for, on behalf of `ctx`, in `site`."""


# ---- inbound ------------------------------------------------------------------------------------


class MesRequestKey(Payload):
    """The MES's id for its request: the same id sent again finds the sample the first one made."""

    mes_request_id: StrictStr = code()


class SampleFields(Payload):
    """A sample by business keys, where and when it was taken: as the MES requests one
    (`SampleRequestV1`) and as the native lab registers one (the REST API's `NativeSampleIn`)."""

    product: StrictStr = code()
    sampled_at: UtcDatetime
    batch: StrictStr | None = code(None)
    lot: StrictStr | None = code(None)
    equipment: StrictStr | None = code(None)
    sampling_point: StrictStr | None = code(None)
    container: StrictStr | None = key_text(None)


class SampleRequestV1(SampleFields, MesRequestKey, Inbound):
    """The MES asks for a sample from a step, by business keys."""

    # Members in the order published: mes_request_id (MesRequestKey), the sample's, then these.
    characteristics: list[StrictStr] = []

    def to_command(self, ctx: Context, site: str) -> RequestSample:
        """Request the sample; registration in the lab comes later."""
        fields = self.model_dump(exclude={"characteristics"})
        return RequestSample(ctx, site, characteristics=tuple(self.characteristics), **fields)


class SampleRegistrationV1(Inbound):
    """The LIMS has the sample, under its own id."""

    sample: StrictStr = code()
    lims_sample_id: StrictStr | None = key_text(None)

    def to_command(self, ctx: Context, site: str) -> RegisterSample:
        """Register the sample."""
        return RegisterSample(ctx, site, self.sample, self.lims_sample_id)


_REVIEW = ("reviewer", "approved_at")
_REVIEW_SCHEMA: JsonDict = {  # what the model validator enforces, said in JSON Schema too
    "if": {"properties": {"lims_status": {"const": "approved"}}},
    "then": {
        "required": list(_REVIEW),
        "properties": {"reviewer": {"type": "string"}, "approved_at": {"type": "string"}},
    },
    "else": {"properties": {"reviewer": {"type": "null"}, "approved_at": {"type": "null"}}},
}


class ResultFields(Payload):
    """A result as the lab reports it, by message (`ResultV1`) or through the REST API
    (`ResultIn`): the value is text, kept exactly as sent."""

    sample: StrictStr = code()
    test_code: StrictStr = code()
    value: StrictStr = Field(min_length=1, max_length=VALUE_LENGTH)
    unit: StrictStr | None = key_text(None)
    method_version: StrictStr = code()
    analyst: StrictStr = code()
    retest_of: StrictStr | None = code(None)


class ResultV1(ResultFields, Inbound):
    """A result as the LIMS reports it: the value is text, kept exactly as sent."""

    model_config = ConfigDict(json_schema_extra=_REVIEW_SCHEMA)

    lims_status: Literal["preliminary", "approved"]
    reviewer: StrictStr | None = code(None)
    approved_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _review_matches_status(self) -> Self:
        approved = self.lims_status == "approved"
        for member in _REVIEW:
            if approved and getattr(self, member) is None:
                raise PydanticCustomError(
                    "review_incomplete",
                    "An approved result needs its {member}: who reviewed it in the LIMS, and when",
                    {"member": member},
                )
            if not approved and getattr(self, member) is not None:
                raise PydanticCustomError(
                    "review_premature",
                    "A preliminary result has no {member}; send it with lims_status approved",
                    {"member": member},
                )
        return self

    def to_command(self, ctx: Context, site: str) -> RecordResult:
        """Record the result; an approved one is approved in the same transaction."""
        return RecordResult(ctx, site, **self.model_dump())


class ResultInvalidationV1(Inbound):
    """The LIMS invalidates a result, with a reason; a system account signs nothing."""

    result: StrictStr = code()
    reason: StrictStr = reason_text()

    def to_command(self, ctx: Context, site: str) -> InvalidateResult:
        """Invalidate the result."""
        return InvalidateResult(ctx, site, self.result, self.reason, None)


class SampleCancellationV1(Inbound):
    """The MES or the LIMS cancels a sample, with a reason."""

    sample: StrictStr = code()
    reason: StrictStr = reason_text()

    def to_command(self, ctx: Context, site: str) -> CancelSample:
        """Cancel the sample."""
        return CancelSample(ctx, site, self.sample, self.reason)


# ---- outbound: built by service/reactions/ (messages.py, gate_push.py); every member present ---

DecimalText = Annotated[
    StrictStr,
    Field(pattern=r"^-?\d+(\.\d+)?(E[+-]\d+)?$", description="An exact decimal number, as text."),
]
UtcText = Annotated[
    StrictStr,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$",
        description="A UTC instant with microseconds: 2026-11-25T10:00:00.000000Z.",
    ),
]

# An outbound instant: a datetime when built, and in the JSON form the outbox holds, the one fixed
# UTC text hashes bind to (`iso_utc`); published, like an inbound instant, as a date-time.
UtcInstant = Annotated[UtcDatetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]


class SampleHeader(Payload):
    """What every outbound message says about its sample."""

    site: StrictStr
    sample_id: StrictStr
    mes_request_id: StrictStr | None


class LimsTest(Payload):
    """A test the LIMS is asked to run, under the method version bound at sampling."""

    test_code: StrictStr
    method: StrictStr
    method_version: StrictStr


class AcknowledgedTest(LimsTest):
    """A planned test as the MES sees it, with the characteristic it answers."""

    characteristic: StrictStr | None


class LimsSampleRequestV1(SampleHeader):
    """To the LIMS: a sample to register, and the tests planned on it."""

    tests: list[LimsTest]


class SampleAcknowledgementV1(SampleHeader):
    """To the MES: the lab has the sample; its LIMS id, tests and bound specification."""

    lims_sample_id: StrictStr | None
    tests: list[AcknowledgedTest]
    specification: StrictStr


class ResultStatusV1(SampleHeader):
    """To the MES: a preliminary result arrived; shown, never acted on."""

    result_id: StrictStr
    test_code: StrictStr
    lims_status: ResultStatus
    result_status: MesStatus


class MesResultV1(SampleHeader):
    """To the MES: an approved result, with the guide's minimum data set, complete."""

    batch: StrictStr | None
    lot: StrictStr | None
    sampling_point: StrictStr | None
    characteristic: StrictStr | None
    result_id: StrictStr
    test_code: StrictStr
    method: StrictStr
    method_version: StrictStr
    analyst: StrictStr
    reviewer: StrictStr | None
    approved_at: UtcText | None
    raw_value: StrictStr
    raw_unit: StrictStr | None
    unit: StrictStr | None
    conversion_factor: DecimalText | None
    calculated_value: DecimalText | None
    reported_value: DecimalText | None
    rounding: StrictStr | None
    limit_set: StrictStr
    specification: StrictStr
    spec_version: StrictInt
    conforms: StrictBool | None
    band: Band | None
    lims_status: ResultStatus
    result_status: MesStatus
    supersedes: StrictStr | None


class ResultInvalidatedV1(SampleHeader):
    """To the MES: a result was invalidated; wait for the retest that supersedes it."""

    result_id: StrictStr
    test_code: StrictStr
    reason: StrictStr
    result_status: MesStatus
    superseded: StrictBool


class SampleCancelledV1(SampleHeader):
    """To the MES (and the LIMS): the sample was cancelled, with a reason; `sample_status` is
    what the status map says a cancelled sample means to the MES (Cancelled)."""

    reason: StrictStr
    sample_status: MesStatus


class BatchHoldV1(SampleHeader):
    """To the MES: hold the batch or lot while an OOS deviation is open ("on"); lift the hold
    when its last open deviation ends ("off")."""

    batch: StrictStr | None
    lot: StrictStr | None
    hold: Literal["on", "off"]
    deviation: StrictStr
    kind: Literal["oos"]
    result_id: StrictStr
    reason: StrictStr


class BatchDispositionV1(Payload):
    """To the MES: QA released or rejected the batch, with an e-signature."""

    site: StrictStr
    batch: StrictStr
    product: StrictStr
    disposition: Literal["released", "rejected"]
    signed_by: StrictStr
    signed_at: UtcInstant
    reason: StrictStr
    samples: list[StrictStr]


class GatePointV1(Payload):
    """One sampling point of the operation: does it let the operation complete, and why."""

    sampling_point: StrictStr
    gate: Literal["block", "allow_with_deviation", "informative"]
    passes: bool
    why: StrictStr


class OperationGateV1(Payload):
    """To the MES: an ISA-88 operation with sampling points may complete ("off"), or must hold
    ("on") until the points it waits for have Accepted samples. Sent when that changes."""

    site: StrictStr
    batch: StrictStr
    product: StrictStr
    procedure: StrictStr
    operation: StrictStr
    may_complete: bool
    hold: Literal["on", "off"]
    waiting_for: list[StrictStr]
    points: list[GatePointV1]
    decided_at: UtcInstant


class LotStatusV1(Payload):
    """To the MES: a received raw-material lot is released for production, or rejected."""

    site: StrictStr
    lot: StrictStr
    material: StrictStr
    supplier: StrictStr
    supplier_lot: StrictStr
    status: Literal["released", "rejected"]
    sample_id: StrictStr
    full_panel: bool
    decided_by: StrictStr
    decided_at: UtcInstant
    reason: StrictStr


# ---- registry -----------------------------------------------------------------------------------

INBOUND: dict[str, type[BaseModel]] = {
    "labgate.sample_request.v1": SampleRequestV1,
    "labgate.sample_registration.v1": SampleRegistrationV1,
    "labgate.result.v1": ResultV1,
    "labgate.result_invalidation.v1": ResultInvalidationV1,
    "labgate.sample_cancellation.v1": SampleCancellationV1,
}
OUTBOUND: dict[str, type[BaseModel]] = {
    "labgate.lims_sample_request.v1": LimsSampleRequestV1,
    "labgate.sample_acknowledgement.v1": SampleAcknowledgementV1,
    "labgate.result_status.v1": ResultStatusV1,
    "labgate.mes_result.v1": MesResultV1,
    "labgate.result_invalidated.v1": ResultInvalidatedV1,
    "labgate.sample_cancelled.v1": SampleCancelledV1,
    "labgate.batch_hold.v1": BatchHoldV1,
    "labgate.batch_disposition.v1": BatchDispositionV1,
    "labgate.lot_status.v1": LotStatusV1,
    "labgate.operation_gate.v1": OperationGateV1,
}


def _inbound_model(schema_id: str) -> type[BaseModel]:
    model = INBOUND.get(schema_id)
    if model is None:
        raise InvalidInput(
            f"labgate accepts no message with schema {schema_id[:80]!r}; "
            f"send one of: {', '.join(sorted(INBOUND))}.",
            reason="envelope.unknown_schema",
            field="schema",
        )
    return model


def parse_payload(schema_id: str, payload: object) -> BaseModel:
    """An inbound payload checked against its schema; the first fault refused by path and rule."""
    model = _inbound_model(schema_id)
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise _violation(schema_id, error) from error


def _violation(schema_id: str, error: ValidationError) -> InvalidInput:
    first = error.errors()[0]
    member = (first.get("ctx") or {}).get("member")  # a rule across members names its member
    # An unknown member's name is the sender's: bounded, the path fits the refusal's records.
    parts = [str(part)[:KEY_LENGTH] for part in (*first["loc"], *([member] if member else []))]
    path = ".".join(["payload", *parts])[:FIELD_LENGTH]
    return InvalidInput(
        f"The {schema_id} payload is refused at {path}: {first['msg']} (rule {first['type']}).",
        reason="envelope.schema_violation",
        field=path,
    )


def to_command(schema_id: str, model: BaseModel, ctx: Context, site: str) -> Command:
    """The command a parsed inbound payload asks for."""
    expected = _inbound_model(schema_id)
    if not isinstance(model, expected) or not isinstance(model, Inbound):
        raise TypeError(
            f"A {schema_id} command is built from a {expected.__name__}, not a "
            f"{type(model).__name__}; parse the payload with parse_payload first."
        )
    return model.to_command(ctx, site)
