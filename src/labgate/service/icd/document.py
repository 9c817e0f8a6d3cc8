"""The ICD's content, built from what the store and the settings say is in force. Pure: the same
configuration gives the same content, so the same canonical bytes and the same SHA-256; nothing
in it is a time or a counter, which is what lets a version be compared with the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labgate.domain.channel_allow_list import CHANNELS

ICD_FORMAT = "labgate.icd.v1"
INSTALLED_ALLOW_LIST = "installed setting LABGATE_CHANNEL_SCHEMAS"

# What the envelope asks of every message on every channel (compliance/envelope.py).
ENVELOPE_RULES = {
    "fields": [
        "schema",
        "message_id",
        "correlation_id",
        "site",
        "source",
        "stream",
        "sequence",
        "sent_at",
        "payload",
        "signature",
    ],
    "signature": "Ed25519 (JWS alg EdDSA), detached, over the RFC 8785 canonical JSON of the "
    "envelope without its signature; the key named by `kid`, registered for `source` and valid "
    "at `sent_at`",
    "message_id": "UUIDv7, unique per source: a second message with the same (source, "
    "message_id) is a duplicate, acknowledged and changing nothing",
    "order": "per (source, stream) by `sequence` from 1 without gaps: a message ahead of a gap "
    "is held until the gap fills or the hold times out (then quarantined)",
}


@dataclass(frozen=True)
class IcdSources:
    """Everything the ICD states, as read from the store and the settings."""

    site: str
    site_name: str
    partners: list[dict[str, Any]]  # system accounts: username, roles, active, keys
    channel_schemas: dict[str, list[str]]  # channel -> schemas it carries (absent: all)
    schemas: list[dict[str, str]]  # id, direction, sha256 of its JSON Schema
    replay_window_seconds: int
    hold_timeout_seconds: int
    mappings: list[dict[str, Any]]
    aliases: list[dict[str, Any]]
    status_rules: list[dict[str, Any]]
    units: list[dict[str, Any]]
    rounding: list[dict[str, Any]]  # method versions
    reason_codes: dict[int, tuple[str, ...]]  # HTTP status -> refusal reason codes
    delivery: dict[str, Any] = field(default_factory=dict)  # retry and dead-letter policy
    # Which allow-list `channel_schemas` is: a change request's version, or the setting.
    allow_list: str = INSTALLED_ALLOW_LIST
    # Mappings and aliases retired through change requests: record, key, retired_from, by.
    retired: list[dict[str, Any]] = field(default_factory=list)


def icd_content(sources: IcdSources) -> dict[str, Any]:
    """The document's content, every list in a fixed order."""
    every = [s["id"] for s in sources.schemas if s["direction"] == "inbound"]
    content: dict[str, Any] = {
        "format": ICD_FORMAT,
        "site": {"code": sources.site, "name": sources.site_name},
        "partners": sorted(sources.partners, key=lambda p: p["username"]),
        "channels": [
            {
                "channel": channel,
                "carries": sorted(sources.channel_schemas.get(channel, every)),
                # Not named by the allow-list: it carries every inbound type.
                "restricted": channel in sources.channel_schemas,
                "allow_list": sources.allow_list,
            }
            for channel in CHANNELS
        ],
        "message_types": sorted(sources.schemas, key=lambda s: (s["direction"], s["id"])),
        "envelope": {
            **ENVELOPE_RULES,
            "replay_window_seconds": sources.replay_window_seconds,
            "hold_timeout_seconds": sources.hold_timeout_seconds,
        },
        "mappings": sorted(
            sources.mappings, key=_key("characteristic", "sampling_point", "test_code")
        ),
        "aliases": sorted(sources.aliases, key=_key("system", "kind", "external_code")),
        "status_map": sorted(sources.status_rules, key=_key("lims_status", "outcome")),
        "units": sorted(sources.units, key=_key("code")),
        "rounding": sorted(sources.rounding, key=_key("method", "version")),
        "reason_codes": [
            {"status": status, "codes": sorted(codes)}
            for status, codes in sorted(sources.reason_codes.items())
        ],
        "delivery": sources.delivery,
    }
    if sources.retired:  # named only once something was retired: older versions read the same
        content["retired"] = sorted(sources.retired, key=_key("record", "key"))
    return content


def _key(*names: str) -> Any:
    return lambda item: tuple(str(item.get(name) or "") for name in names)
