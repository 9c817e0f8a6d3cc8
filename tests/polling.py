"""Waiting, in tests, for another thread to reach a point (no timing is asserted)."""

from __future__ import annotations

import time
from collections.abc import Callable


def soon(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether `condition` holds within `seconds`, looked at every 5 ms."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()
