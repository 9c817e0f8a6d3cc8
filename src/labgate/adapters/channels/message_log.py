"""One structured log line per message a worker handles: which message (correlation id, source,
stream, sequence) and what became of it, so an operator can follow one message through the log
without opening the database."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from labgate.adapters.codecs.filepack import is_tar, read_members
from labgate.domain.errors import LabgateError
from labgate.service.inbox.admission import Receipt, ReceiptRefused
from labgate.service.packs import MANIFEST

log = logging.getLogger("labgate.messages")
_NAMED = ("correlation_id", "source", "stream", "sequence", "message_id")


def configure() -> None:
    """Workers log at INFO on stderr, one line per record (the message lines among them)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def identify(raw: bytes) -> dict[str, Any]:
    """What the bytes say of the message: an envelope's members, or a plain pack's manifest's;
    nothing for bytes that cannot be read (an encrypted pack, garbage), which the outcome says."""
    try:
        if is_tar(raw):
            raw = read_members(raw)[MANIFEST]
        document = json.loads(raw)
    except (ValueError, KeyError, RecursionError, LabgateError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {name: document.get(name) for name in _NAMED if name in document}


def outcome(result: Receipt | ReceiptRefused) -> dict[str, Any]:
    """applied, duplicate or held; or quarantined with its reason, field and sequence rule."""
    if isinstance(result, Receipt):
        return {"outcome": result.status}
    return {
        "outcome": "quarantined",
        "reason": result.reason,
        "field": result.field,
        "quarantine_id": result.quarantine_id,
        "sequence_number": "used" if result.number_used else "free",
    }


def log_message(channel: str, raw: bytes, result: Receipt | ReceiptRefused, **more: Any) -> None:
    """The one line for one message, as a JSON object (keys always in the same order)."""
    line = {"event": "message", "channel": channel, **dict.fromkeys(_NAMED[:4])}
    line |= identify(raw) | more | outcome(result)
    log.info("%s", json.dumps(line, ensure_ascii=False, default=str))


def log_messages(
    channel: str, raws: Sequence[bytes], results: Sequence[Receipt | ReceiptRefused]
) -> None:
    """One line per message of a run, in the order received."""
    for raw, result in zip(raws, results, strict=True):
        log_message(channel, raw, result)
