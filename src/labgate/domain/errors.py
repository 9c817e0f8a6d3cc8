"""Every failure labgate reports, one class per kind, each with a stable reason code.

    LabgateError                    reason, field, message; the root of everything below
    ├── InvalidInput                a value breaks a rule where data enters
    │   ├── MalformedNumber         text that is not a decimal number
    │   ├── InvalidLimit            a limit expression that cannot be parsed
    │   ├── UnitError               unknown unit, or one that cannot be converted
    │   ├── MethodVersionMismatch   a result under another method version than planned
    │   ├── EnvelopeError           a message envelope that is malformed or not verifiable
    │   ├── MalformedDocument       XML that is not well-formed or carries a DOCTYPE (B2MML)
    │   └── InvalidDocument         a B2MML document that breaks the MESA schema
    ├── NotFound                    a business key that names nothing
    ├── Conflict                    the request clashes with the record's state
    │   ├── InvalidTransition       a lifecycle move the transition table forbids
    │   └── DuplicateKey            a business key that already exists
    ├── Forbidden                   authenticated, but not allowed
    │   └── SegregationOfDuties     the same person in two roles that must differ
    ├── Unauthenticated             no identity, bad credentials, locked, expired
    └── (outside the domain) each in the module that raises it, with its reason code: the
        inbox's rules and ReceiptRefused (a quarantined message, refused for its cause),
        Throttled, TrailBroken, SealBroken, DeliveryFailed, SchemaBehind, the pack store's and
        B2MML's failures; at the HTTP edge BodyTooLarge, BodyTimeout, MalformedBody and
        FrameworkRefusal (unknown route, wrong method, server fault)

The reason code (``number.malformed``) is the contract other systems rely on: messages may
be reworded, codes never change. An error names its kind and reason, never a transport's status:
which HTTP status each kind is answered with is decided in one table at the edge
(entrypoints/api/http_errors.py), for the API and the console alike.
"""

from __future__ import annotations


class LabgateError(Exception):
    """Root of labgate's errors: a sentence, a stable reason code and the field at fault."""

    default_reason = "labgate.error"

    def __init__(self, message: str, *, reason: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.field = field


class InvalidInput(LabgateError):
    """A value breaks a rule where it enters labgate."""

    default_reason = "input.invalid"


class MalformedNumber(InvalidInput):
    """Text that should be a decimal number and is not."""

    default_reason = "number.malformed"


class InvalidLimit(InvalidInput):
    """A limit expression labgate cannot read."""

    default_reason = "limit.invalid"


class UnitError(InvalidInput):
    """A unit that is unknown, or cannot be converted to the canonical unit."""

    default_reason = "unit.unknown"


class MethodVersionMismatch(InvalidInput):
    """A result measured under a method version other than the one planned: no silent upgrades."""

    default_reason = "result.method_version_mismatch"


class NotFound(LabgateError):
    """A business key that names nothing in this site."""

    default_reason = "reference.unknown"


class Conflict(LabgateError):
    """The request clashes with the current state of a record."""

    default_reason = "state.conflict"


class InvalidTransition(Conflict):
    """A lifecycle move that the transition table does not allow."""

    default_reason = "lifecycle.invalid_transition"


class DuplicateKey(Conflict):
    """A business key that already exists in this site."""

    default_reason = "key.duplicate"


class Forbidden(LabgateError):
    """The caller is known but lacks the permission."""

    default_reason = "access.forbidden"


class SegregationOfDuties(Forbidden):
    """The same person in two roles that must be held by different people."""

    default_reason = "access.segregation_of_duties"


class Unauthenticated(LabgateError):
    """No identity, bad credentials, a locked account or an expired token."""

    default_reason = "auth.unauthenticated"
