"""What a connector must not forget across a restart, in one JSON file replaced atomically: the
LIMS cursor, the next sequence number of its stream, which LIMS sample is which labgate sample,
which LIMS records already became messages, and the messages owed to labgate not yet answered.

A record becomes a message (its message id and sequence number fixed) and the cursor moves past
it in the same write, before anything is sent. So after a crash every number handed out belongs
to a message still owed (no gap), and a message sent again keeps its id (a duplicate in labgate's
inbox, never a second result)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uuid6


@dataclass(frozen=True)
class Owed:
    """A message owed to labgate: everything but its send time and signature."""

    sequence: int
    message_id: str
    schema: str
    site: str
    payload: dict[str, Any]
    correlation_id: str | None = None
    about: str | None = None  # the LIMS record or sample it stands for, for the log


@dataclass
class ConnectorState:
    """The connector's memory; `save` writes it whole."""

    path: Path
    cursor: str | None = None
    next_sequence: int = 1
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)  # LIMS id -> site, sample
    records: dict[str, str] = field(default_factory=dict)  # record key -> message id
    owed: list[Owed] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, initial_cursor: str | None) -> ConnectorState:
        """The state kept at `path`; a fresh one (at the initial cursor) if there is no file."""
        if not path.exists():
            return cls(path, initial_cursor)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            owed = [Owed(**item) for item in data.pop("owed")]
            return cls(path, owed=owed, **data)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ValueError(
                f"The connector's state file {path} cannot be read ({error}); restore it from "
                "its backup: starting afresh would reuse sequence numbers labgate has seen."
            ) from None

    def lims_id(self, site: str, sample: str) -> str | None:
        """The LIMS's id of a labgate sample it registered, if any."""
        for lims_id, entry in self.samples.items():
            if (entry["site"], entry["sample"]) == (site, sample):
                return lims_id
        return None

    def owe(self, schema: str, site: str, payload: dict[str, Any], **extra: Any) -> Owed:
        """A new message, next in the stream (kept once `save` has run)."""
        item = Owed(self.next_sequence, str(uuid6.uuid7()), schema, site, payload, **extra)
        self.next_sequence += 1
        self.owed.append(item)
        return item

    def answered(self, item: Owed) -> None:
        """labgate has answered for `item` (applied, held, duplicate or refused)."""
        self.owed = [o for o in self.owed if o.message_id != item.message_id]

    def save(self) -> None:
        """Write the whole state to a temporary file, flush it to disk, and rename it over."""
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".part")
        with temp.open("w", encoding="utf-8") as file:
            json.dump(data, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        temp.replace(self.path)
