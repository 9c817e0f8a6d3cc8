"""A partner system's journal: one JSON object per line, flushed at once, of what it sent and
received; the tests and an operator read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labgate.adapters.connectors.partner.identity import now, utc_text


class Journal:
    """One JSON object per line, flushed at once: what a partner sent and received."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8") if path is not None else None

    def write(self, event: str, **fields: Any) -> None:
        """Append one line: the event, when, and its fields."""
        if self._file is not None:
            line = {"event": event, "at": utc_text(now()), **fields}
            self._file.write(json.dumps(line, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
