"""Serving a partner's webhook while it runs, and its one-line messages to the operator."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.applications import Starlette


def say(text: str, err: bool = False) -> None:
    """One line to the operator, at once (stdout may be a file the tests read)."""
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the partner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: Starlette, host: str, port: int) -> AsyncIterator[None]:
    """Serve `app` on host:port while the block runs."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError(f"The webhook could not listen on {host}:{port}.")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task
