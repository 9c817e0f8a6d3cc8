"""The relay's loop and bell, with a recording stand-in for the relay: a ring wakes the loop at
once (the poll is an hour here), a ring during a pass is not lost, a failing pass is logged and
the loop goes on, and stop() ends it. No timing is asserted beyond "long before the poll"."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from labgate.service.outbox.relay import RelayReport
from labgate.service.outbox.relay_bell import RelayBell
from labgate.service.outbox.relay_loop import RelayLoop
from polling import soon

HOUR = 3600.0


class RecordingRelay:
    """Counts its passes; runs `during` inside the next pass, if set."""

    def __init__(self) -> None:
        self.passes = 0
        self.during: Callable[[], None] | None = None

    def run_once(self) -> RelayReport:
        self.passes += 1
        during, self.during = self.during, None
        if during is not None:
            during()
        return RelayReport()


@contextmanager
def running(loop: RelayLoop) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        loop.stop()
        thread.join(timeout=10)


def loop_over(relay: Any, bell: RelayBell, **kw: Any) -> RelayLoop:
    return RelayLoop(relay, bell, HOUR, **kw)


def test_a_ring_wakes_the_loop_long_before_its_poll() -> None:
    relay, bell = RecordingRelay(), RelayBell()
    loop = loop_over(relay, bell)
    with running(loop):
        assert soon(lambda: relay.passes == 1)  # the first pass, at start
        bell.ring()
        assert soon(lambda: relay.passes == 2)


def test_a_ring_during_a_pass_makes_another_pass() -> None:
    relay, bell = RecordingRelay(), RelayBell()
    relay.during = bell.ring  # a commit lands while the first pass is running
    with running(loop_over(relay, bell)):
        assert soon(lambda: relay.passes == 2)


def test_stop_ends_the_loop_without_waiting_for_the_poll() -> None:
    relay, bell = RecordingRelay(), RelayBell()
    loop = loop_over(relay, bell)
    with running(loop) as thread:
        assert soon(lambda: relay.passes == 1)
    assert not thread.is_alive()


def test_a_failing_pass_is_logged_and_the_next_ring_passes_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay, bell = RecordingRelay(), RelayBell()

    def database_away() -> None:
        raise ConnectionError("the database went away")

    relay.during = database_away
    reports: list[RelayReport] = []
    with running(loop_over(relay, bell, after_pass=reports.append)):
        assert soon(lambda: relay.passes == 1)
        bell.ring()
        assert soon(lambda: relay.passes == 2)
    assert "relay pass failed; the next pass tries again" in caplog.text
    assert reports[:2] == [RelayReport(), RelayReport()]


def test_one_ring_wakes_every_waiter() -> None:
    bell, woken = RelayBell(), []
    seen = bell.rings
    waiters = [
        threading.Thread(target=lambda: woken.append(bell.wait(seen, HOUR))) for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    bell.ring()
    for waiter in waiters:
        waiter.join(timeout=10)
    assert woken == [True, True, True]
    assert bell.wait(seen, 0) is True  # a ring already counted is not waited for again
    assert bell.wait(bell.rings, 0) is False


def test_a_loop_refuses_a_poll_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RelayLoop(RecordingRelay(), RelayBell(), 0)  # type: ignore[arg-type]
