"""The one place a labgate error becomes an HTTP status, for the API's problem+json and the
console's pages alike.

Errors name their kind (their class) and a stable reason code; the status a client sees is a
matter of the transport, decided here by the nearest class in the error's MRO that the table
lists. Two refusals answer with a status they did not choose here: a quarantined message
(ReceiptRefused) with that of the error that refused it, and a refusal the HTTP framework made
(FrameworkRefusal) with the framework's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from labgate.adapters.channels.packstore import TransportUnavailable, UnsafePackName
from labgate.adapters.codecs.b2mml import SchemasNotFound
from labgate.adapters.codecs.b2mml_messages import UnsupportedMessage
from labgate.adapters.store.migrate import SchemaBehind
from labgate.compliance.checkpoints import TrailBroken
from labgate.compliance.throttle import Throttled
from labgate.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LabgateError,
    NotFound,
    Unauthenticated,
)
from labgate.entrypoints.api.body_checks import MalformedBody
from labgate.entrypoints.api.middleware import BodyTimeout, BodyTooLarge
from labgate.service.inbox.errors import (
    ChannelNotAllowed,
    OutsideReplayWindow,
    ReceiptRefused,
    SourceMismatch,
    StaleSequence,
)
from labgate.service.inbox.incoming import RouteMismatch
from labgate.service.outbox.records import SealBroken
from labgate.service.outbox.relay import DeliveryFailed

STATUS: Final[Mapping[type[LabgateError], int]] = MappingProxyType(
    {
        # The domain's kinds; their subclasses (in every ring) answer as they do.
        InvalidInput: 422,
        NotFound: 404,
        Conflict: 409,
        Forbidden: 403,
        Unauthenticated: 401,
        # Rules of the rings around the domain that are not subclasses of its kinds.
        OutsideReplayWindow: 422,
        ChannelNotAllowed: 422,
        UnsafePackName: 422,
        StaleSequence: 409,
        SealBroken: 409,
        TrailBroken: 409,
        SourceMismatch: 403,
        RouteMismatch: 403,
        Throttled: 429,
        # labgate, or a system it depends on, at fault rather than the client.
        SchemasNotFound: 500,
        UnsupportedMessage: 500,
        DeliveryFailed: 502,
        SchemaBehind: 503,
        TransportUnavailable: 503,
        # The HTTP edge: a body refused before anything parses it (MalformedBody is an
        # InvalidInput, but the request is not yet readable as one: 400, not 422).
        MalformedBody: 400,
        BodyTimeout: 408,
        BodyTooLarge: 413,
        # Any other refusal.
        LabgateError: 400,
    }
)


class FrameworkRefusal(LabgateError):
    """A refusal made by the HTTP framework (unknown route, wrong method, unreadable body, a
    fault in labgate), answered with the status the framework chose."""

    def __init__(self, message: str, *, reason: str, status_code: int):
        super().__init__(message, reason=reason)
        self.status_code = status_code


def http_status(error: LabgateError) -> int:
    """The HTTP status `error` is answered with."""
    if isinstance(error, ReceiptRefused):
        return http_status(error.cause)
    if isinstance(error, FrameworkRefusal):
        return error.status_code
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)
