"""Which message types (each a schema named with its version) each channel carries, under
change control: a change request proposes the whole allow-list, QA approves it, and it is in
force from its date. A channel the allow-list does not name carries every inbound type (as the
LABGATE_CHANNEL_SCHEMAS setting, the baseline until the first approved version, has it)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labgate.domain.errors import InvalidInput

# The channels labgate takes envelopes in on (the name each adapter gives the inbox).
CHANNELS = ("rest", "amqp", "mqtt", "folder", "sftp")
# A schema is named with its version: labgate.result.v1.
VERSIONED = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.v[1-9][0-9]*$")

AllowList = Mapping[str, frozenset[str]]  # channel -> what it carries (absent: everything)


def check_channels(p: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal's shape: known channels, each with a list of distinct versioned schema
    names (which of them labgate knows is the service's check: domain knows no registry)."""
    channels = p.get("channels")
    if not isinstance(channels, Mapping):
        raise _bad("proposal.channels", "must be an object: channel -> the schemas it carries")
    checked: dict[str, list[str]] = {}
    for channel, schemas in channels.items():
        where = f"proposal.channels.{channel}"
        if channel not in CHANNELS:
            raise _bad(where, f"names no channel labgate has; one of {', '.join(CHANNELS)}")
        if not isinstance(schemas, list):
            raise _bad(where, "must be a list of schema names, each with its version")
        for i, schema in enumerate(schemas):
            if not isinstance(schema, str) or not VERSIONED.match(schema):
                raise _bad(f"{where}[{i}]", "must be a schema named with its version "
                           f"(labgate.result.v1), not {schema!r}")  # fmt: skip
            if schema in schemas[:i]:
                raise _bad(f"{where}[{i}]", f"names {schema} a second time")
        checked[channel] = sorted(schemas)
    return {"channels": dict(sorted(checked.items()))}


def unknown_schemas(p: Mapping[str, Any], known: Collection[str]) -> None:
    """Refuse the first schema labgate does not know, naming where it stands."""
    for channel, schemas in p["channels"].items():
        for i, schema in enumerate(schemas):
            if schema not in known:
                names = ", ".join(sorted(known))
                raise _bad(
                    f"proposal.channels.{channel}[{i}]",
                    f"names {schema}, which labgate does not take in; one of {names}",
                )


def as_allow_list(channels: Mapping[str, Collection[str]]) -> dict[str, frozenset[str]]:
    """A proposal's or the setting's channels as an allow-list."""
    return {channel: frozenset(schemas) for channel, schemas in channels.items()}


def differences(
    before: AllowList, after: AllowList, every: Collection[str]
) -> list[dict[str, Any]]:
    """Per channel that changes: what it carries before and after, what is added and removed
    (a channel not named carries `every` inbound type)."""
    rows = []
    for channel in CHANNELS:
        was = before.get(channel, frozenset(every))
        becomes = after.get(channel, frozenset(every))
        if was != becomes or (channel in before) != (channel in after):
            rows.append({
                "channel": channel,
                "added": sorted(becomes - was),
                "removed": sorted(was - becomes),
                "carries": sorted(becomes),
                "restricted": channel in after,
            })  # fmt: skip
    return rows


@dataclass
class ChannelAllowListVersion:
    """An allow-list approved through a change request, in force from its `effective_from`
    (written at approval, so the inbox switches at that instant, not at the next due pass)."""

    version: int
    effective_from: datetime
    change_request: str
    site: str
    channels: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AllowListSchedule:
    """Every approved allow-list with the date it is in force from."""

    # (effective_from, version, allow-list); a later date wins, at one date the higher version.
    dated: tuple[tuple[datetime, int, AllowList], ...] = ()

    def in_force(self, at: datetime) -> tuple[int, AllowList] | None:
        """The version in force at `at` and its allow-list (None: none approved has come into
        force yet, the installed setting holds)."""
        reached = [entry for entry in self.dated if entry[0] <= at]
        if not reached:
            return None
        _, version, allow = max(reached, key=lambda e: (e[0], e[1]))
        return version, allow


def schedule_of(versions: Collection[ChannelAllowListVersion]) -> AllowListSchedule:
    """The schedule the stored versions make."""
    return AllowListSchedule(
        tuple((v.effective_from, v.version, as_allow_list(v.channels)) for v in versions)
    )


def _bad(field_name: str, rule: str) -> InvalidInput:
    return InvalidInput(
        f"The change's {field_name} {rule}.", reason="change.invalid_proposal", field=field_name
    )
