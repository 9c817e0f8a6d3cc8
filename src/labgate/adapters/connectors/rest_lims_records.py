"""A LIMS result record read through the mapping. Nothing is invented or corrected: a member the
record lacks is left out, a code the value map does not know is passed as it is, so labgate's
inbox refuses the message and quarantines it with its reason and raw bytes. Only a record that has
no id (nothing to de-duplicate it by) cannot be sent at all: it is skipped and logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labgate.adapters.connectors.rest_lims_mapping import MISSING, Results, lookup


class Unmappable(ValueError):
    """A record that cannot become a message at all; the message says why."""


@dataclass(frozen=True)
class MappedRecord:
    """A result record as labgate will get it, before its sample is known."""

    key: str  # the record's id (and version): one message per key, ever
    lims_sample: Any  # the LIMS sample id as reported (MISSING if the record has none)
    payload: dict[str, Any]  # labgate.result.v1 members, without `sample`


def map_record(rules: Results, record: Any) -> MappedRecord:
    """One record mapped; Unmappable if it has no usable id."""
    if not isinstance(record, dict):
        raise Unmappable(f"A result record is {type(record).__name__}, not an object.")
    record_id = lookup(record, rules.record_id)
    if not isinstance(record_id, str) or not record_id:
        raise Unmappable(f"A result record has no id at {rules.record_id!r}: {record!r:.200}.")
    key = record_id
    if rules.record_version is not None:
        version = lookup(record, rules.record_version)
        key = f"{record_id}@{'' if version is MISSING else version}"
    payload: dict[str, Any] = {}
    for member, rule in sorted(rules.fields.items()):
        if rule.value is not None:
            payload[member] = rule.value
            continue
        assert rule.path is not None  # the mapping's validator: path or value
        value = lookup(record, rule.path)
        if value is MISSING:
            continue  # left out: labgate names what is missing
        if rule.values is not None and isinstance(value, str):
            value = rule.values.get(value, value)
        payload[member] = value
    return MappedRecord(key, lookup(record, rules.lims_sample), payload)
