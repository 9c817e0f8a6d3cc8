"""What changed between two versions of the ICD, in words: per section, each item added,
removed or changed (which field, from what to what), so a reviewer reads the difference rather
than comparing two documents."""

from __future__ import annotations

import json
from typing import Any

# The list sections, and the fields that name an item within each.
KEYS: dict[str, tuple[str, ...]] = {
    "partners": ("username",),
    "channels": ("channel",),
    "message_types": ("direction", "id"),
    "mappings": ("characteristic", "sampling_point", "test_code"),
    "aliases": ("system", "kind", "external_code"),
    "retired": ("record", "key"),
    "status_map": ("lims_status", "outcome"),
    "units": ("code",),
    "rounding": ("method", "version"),
    "reason_codes": ("status",),
}
# The sections that are one object: compared field by field.
OBJECTS = ("site", "envelope", "delivery")


def icd_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every difference, section by section in the document's order; none: the same content."""
    said: list[str] = []
    for section in new:
        if section in KEYS:
            said += _list_changes(section, old.get(section, []), new[section])
        elif section in OBJECTS:
            said += [f"{section}: {line}" for line in _fields(old.get(section, {}), new[section])]
        elif old.get(section) != new[section]:
            said.append(f"{section}: {_shown(old.get(section))} → {_shown(new[section])}")
    return said


def _list_changes(section: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    names = KEYS[section]
    before = {_label(item, names): item for item in old}
    after = {_label(item, names): item for item in new}
    said = [f"{section}: {label} added" for label in after if label not in before]
    said += [f"{section}: {label} removed" for label in before if label not in after]
    for label in after:
        if label in before and before[label] != after[label]:
            changed = _fields(before[label], after[label], skip=names)
            said += [f"{section}: {label}: {line}" for line in changed]
    return said


def _fields(old: dict[str, Any], new: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        if name in skip or old.get(name) == new.get(name):
            continue
        was, now = old.get(name), new.get(name)
        if (
            isinstance(was, list)
            and isinstance(now, list)
            and all(isinstance(v, str) for v in (*was, *now))
        ):
            added = sorted(set(now) - set(was))
            gone = sorted(set(was) - set(now))
            parts = ([f"+ {', '.join(added)}"] if added else []) + (
                [f"- {', '.join(gone)}"] if gone else []
            )
            lines.append(f"{name} {'; '.join(parts) or 'reordered'}")
        else:
            lines.append(f"{name} {_shown(was)} → {_shown(now)}")
    return lines


def _label(item: dict[str, Any], names: tuple[str, ...]) -> str:
    return " / ".join(
        str(item.get(name) if item.get(name) is not None else "any") for name in names
    )


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
