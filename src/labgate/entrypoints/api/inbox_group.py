"""Group commit for `POST /api/v1/inbox`: envelopes whose requests arrive while the inbox is busy
wait, then go in together, through the batch path the broker's deliveries take
(`service/inbox/batch.py`): consecutive results in one transaction, anything else one by one in
arrival order, one message's refusal never failing the others (they are applied again alone).
Each request is answered once its own envelope's transaction has committed.

One writer per process, on a worker thread, so the event loop keeps taking requests meanwhile;
the waiting requests hold no thread. A group takes at most `most` envelopes
(`LABGATE_INBOX_GROUP_MOST`): a long group delays its first answer.

A sender taken from the process's cache of API keys (auth.Sender) is checked again here, before
its envelope is received: one read of the accounts' version for the whole group, and a fresh
look only at a sender whose version has moved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread

from labgate.domain.errors import LabgateError
from labgate.entrypoints.api.auth import Sender
from labgate.service.inbox.admission import Inbox
from labgate.service.inbox.batch import Outcome, receive_batch


@dataclass(frozen=True)
class SenderCheck:
    """How a cached sender is checked again: the accounts' version now, and the fresh look at
    one sender whose version moved (raises as the fresh check would)."""

    version: Callable[[], int]
    recheck: Callable[[Sender, int], None]


@dataclass(frozen=True)
class _Raise:
    """What the request raises instead of answering: a refused sender, or a fault (a refused
    envelope is an outcome, ReceiptRefused, answered with its quarantine item)."""

    error: Exception


@dataclass(frozen=True)
class _Waiting:
    raw: bytes
    sender: Sender
    answer: asyncio.Future[Outcome]


class InboxGroups:
    """The envelopes waiting for the next group, and the one task writing groups."""

    def __init__(
        self, inbox: Inbox, most: int, check: SenderCheck | None = None, channel: str = "rest"
    ) -> None:
        self.inbox, self.most, self.check, self.channel = inbox, most, check, channel
        self.waiting: list[_Waiting] = []
        self.writer: asyncio.Task[None] | None = None
        self.sizes: list[int] = []  # of the last groups written, for tests and the bench

    async def receive(self, raw: bytes, sender: Sender) -> Outcome:
        """The envelope's receipt or refusal, once the group it went in with is committed; the
        sender's refusal (LabgateError) if it no longer holds."""
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(raw, sender, answer))
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
                answers = await to_thread.run_sync(self._write_group, group)
            except Exception as error:  # a fault, not a refusal: each request answers 500
                answers = [_Raise(error)] * len(group)
            for waiting, answer in zip(group, answers, strict=True):
                if waiting.answer.done():  # a client that went away cancelled its own
                    continue
                if isinstance(answer, _Raise):
                    waiting.answer.set_exception(answer.error)
                else:
                    waiting.answer.set_result(answer)

    def _write_group(self, group: list[_Waiting]) -> list[Outcome | _Raise]:
        """Each envelope's outcome, or its sender's refusal (on a worker thread)."""
        answers: list[Outcome | _Raise | None] = [None] * len(group)
        if self.check is not None and any(w.sender.as_of is not None for w in group):
            version = self.check.version()
            for index, waiting in enumerate(group):
                try:
                    self.check.recheck(waiting.sender, version)
                except LabgateError as refused:
                    answers[index] = _Raise(refused)
        sent = [index for index, answer in enumerate(answers) if answer is None]
        outcomes = receive_batch(
            self.inbox,
            [group[index].raw for index in sent],
            self.channel,
            [group[index].sender.account.username for index in sent],
        )
        for index, outcome in zip(sent, outcomes, strict=True):
            answers[index] = outcome
        return [answer for answer in answers if answer is not None]
