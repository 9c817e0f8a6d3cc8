"""Group commit for `POST /api/v1/inbox`: envelopes whose requests arrive while the inbox is busy
wait, then go in together, through the batch path the broker's deliveries take
(`service/inbox/batch.py`): consecutive results in one transaction, anything else one by one in
arrival order, one message's refusal never failing the others (they are applied again alone).
Each request is answered once its own envelope's transaction has committed.

One writer per process, on a worker thread, so the event loop keeps taking requests meanwhile;
the waiting requests hold no thread. A group takes at most `most` envelopes
(`LABGATE_INBOX_GROUP_MOST`): a long group delays its first answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from anyio import to_thread

from labgate.service.inbox.admission import Inbox
from labgate.service.inbox.batch import Outcome, receive_batch


@dataclass(frozen=True)
class _Waiting:
    raw: bytes
    caller: str
    answer: asyncio.Future[Outcome]


class InboxGroups:
    """The envelopes waiting for the next group, and the one task writing groups."""

    def __init__(self, inbox: Inbox, most: int, channel: str = "rest") -> None:
        self.inbox, self.most, self.channel = inbox, most, channel
        self.waiting: list[_Waiting] = []
        self.writer: asyncio.Task[None] | None = None
        self.sizes: list[int] = []  # of the last groups written, for tests and the bench

    async def receive(self, raw: bytes, caller: str) -> Outcome:
        """The envelope's receipt or refusal, once the group it went in with is committed."""
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(raw, caller, answer))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        return await answer

    async def _write(self) -> None:
        """Groups until nobody waits: each takes everyone who arrived while the last was
        written."""
        while self.waiting:
            group, self.waiting = self.waiting[: self.most], self.waiting[self.most :]
            self.sizes = [*self.sizes[-99:], len(group)]
            try:
                outcomes = await to_thread.run_sync(
                    receive_batch,
                    self.inbox,
                    [w.raw for w in group],
                    self.channel,
                    [w.caller for w in group],
                )
            except Exception as error:  # a fault, not a refusal: each request answers 500
                for waiting in group:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                continue
            for waiting, outcome in zip(group, outcomes, strict=True):
                if not waiting.answer.done():  # a client that went away cancelled its own
                    waiting.answer.set_result(outcome)
