"""How the audit pages read what a person types and what the trail sealed: local times at the
site turned into the UTC bounds the API's filters take, and an entry's before/after turned into
a field-by-field difference whose values are spelled exactly as sealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from labgate.compliance.canonical import canonical_json
from labgate.domain.errors import InvalidInput

LOCAL_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


def local_to_utc(text: str | None, zone: str, field: str) -> datetime | None:
    """The UTC instant of a wall-clock time at the site (`2026-11-25T10:15[:03]`, as a
    datetime-local field sends it); InvalidInput naming the field for text that is no such
    time, or a time the site's clocks skip or show twice (a change of summer time)."""
    if not text:
        return None
    wall = _parsed(text, field)
    site = ZoneInfo(zone)
    # Both readings of the wall time (fold 0 and 1); only those that read back as typed exist.
    readings = {wall.replace(fold=fold, tzinfo=site).astimezone(UTC) for fold in (0, 1)}
    instants = {i for i in readings if i.astimezone(site).replace(tzinfo=None) == wall}
    if not instants:
        raise InvalidInput(
            f"{field}: {text} does not exist in {zone} (the clocks go forward then).",
            reason="input.local_time_missing",
            field=field,
        )
    if len(instants) > 1:
        raise InvalidInput(
            f"{field}: {text} occurs twice in {zone} (the clocks go back then); "
            "pick a time outside that hour.",
            reason="input.local_time_ambiguous",
            field=field,
        )
    return instants.pop()


def _parsed(text: str, field: str) -> datetime:
    for pattern in LOCAL_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise InvalidInput(
        f"{field}: {text[:40]!r} is not a date and time (YYYY-MM-DDTHH:MM:SS, the site's time).",
        reason="input.datetime_parsing",
        field=field,
    )


Change = Literal["removed", "added", "changed"]


@dataclass(frozen=True)
class FieldChange:
    """One field of the record that differs between before and after."""

    path: str
    change: Change
    before: str | None
    after: str | None


def sealed_text(value: Any) -> str:
    """A sealed leaf as the seal covers it: strings as they are, anything else as its
    canonical JSON (a number keeps exactly the digits that were hashed)."""
    if isinstance(value, str):
        return value
    return canonical_json(value).decode()


def flattened(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves by dotted path (`limits.0.low`); an empty object or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and value:
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {path: value}
    leaves: dict[str, Any] = {}
    for key, inner in items:
        leaves |= flattened(inner, f"{path}.{key}" if path else key)
    return leaves


def difference(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[list[FieldChange], int]:
    """The fields removed, added and changed from `before` to `after` (in path order), and how
    many stayed the same."""
    old = flattened(before) if before else {}
    new = flattened(after) if after else {}
    changes: list[FieldChange] = []
    same = 0
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            changes.append(FieldChange(path, "removed", sealed_text(old[path]), None))
        elif path not in old:
            changes.append(FieldChange(path, "added", None, sealed_text(new[path])))
        elif canonical_json(old[path]) != canonical_json(new[path]):
            changed = FieldChange(path, "changed", sealed_text(old[path]), sealed_text(new[path]))
            changes.append(changed)
        else:
            same += 1
    return changes, same
