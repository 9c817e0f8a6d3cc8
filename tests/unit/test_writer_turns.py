"""SQLite writers of one process take turns first come, first served; a writer that waited
too long goes on without a turn, and the queue stays whole."""

from __future__ import annotations

import threading

from labgate.adapters.store.writer_turns import WriterTurns
from polling import soon


def test_waiting_writers_are_served_in_the_order_they_came() -> None:
    turns, served = WriterTurns(), []
    assert turns.acquire(1)

    def writer(name: str) -> None:
        assert turns.acquire(10)
        served.append(name)
        turns.release()

    threads = []
    for number, name in enumerate(["first", "second", "third", "fourth"], start=1):
        threads.append(threading.Thread(target=writer, args=(name,)))
        threads[-1].start()
        assert soon(lambda number=number: turns.waiting == number)  # queued before the next
    turns.release()
    for thread in threads:
        thread.join(10)
    assert served == ["first", "second", "third", "fourth"]
    assert turns.acquire(0.01)  # the last one handed the turn back: free again


def test_a_writer_that_waited_too_long_leaves_the_queue() -> None:
    turns = WriterTurns()
    assert turns.acquire(1)
    assert not turns.acquire(0.05)
    assert turns.waiting == 0
    turns.release()
    assert turns.acquire(0.01)  # nobody was handed a turn it had given up
    turns.release()
