"""ASGI middleware: correlation ids on every request; a hard cap on body size, a deadline for
the whole body, and the checks bodies pass before anything parses them (body_checks.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uuid6 import uuid7

from labgate.domain.errors import LabgateError
from labgate.entrypoints.api.body_checks import check_body


class BodyTooLarge(LabgateError):
    """The request body exceeds LABGATE_MAX_BODY_BYTES."""

    default_reason = "request.too_large"


class BodyTimeout(LabgateError):
    """The request body did not arrive within LABGATE_BODY_TIMEOUT_SECONDS (a slow sender)."""

    default_reason = "request.body_timeout"


Refuse = Callable[[Scope, LabgateError], Awaitable[ASGIApp]]


class CorrelationId:
    """Take X-Correlation-ID from the caller or make one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-correlation-id", b"").decode("latin-1")[:64]
        correlation_id = given or str(uuid7())
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (b"x-correlation-id", correlation_id.encode("latin-1"))
                )
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimit:
    """Refuse bodies over the limit, declared or streamed, too slow to arrive, or malformed
    (charset, UTF-8, JSON depth), before anything parses them."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        refuse: Refuse,
        max_json_depth: int = 32,
        timeout_seconds: float = 30,
        raw_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse
        self.max_json_depth = max_json_depth
        self.timeout_seconds = timeout_seconds
        # Routes that take another system's raw message judge its bytes themselves: a malformed
        # one is quarantined with them (promise 3), not refused here and lost.
        self.raw_paths = raw_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        # Bodies are buffered up to the limit, then replayed; a sender too slow is cut off.
        messages: list[Message] = []
        with anyio.move_on_after(self.timeout_seconds) as deadline:
            seen, more = 0, True
            while more:
                message = await receive()
                messages.append(message)
                seen += len(message.get("body", b""))
                more = message["type"] == "http.request" and message.get("more_body", False)
                if seen > self.max_bytes:
                    await self._refuse(scope, receive, send, self._too_large())
                    return
        if deadline.cancelled_caught:
            late = BodyTimeout(
                f"The request body did not arrive within {self.timeout_seconds:g} seconds "
                "(LABGATE_BODY_TIMEOUT_SECONDS).",
                field="body",
            )
            await self._refuse(scope, receive, send, late)
            return

        # The hash of the raw bytes goes on audit entries (the payload hash of interface events).
        body = b"".join(m.get("body", b"") for m in messages)
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        try:
            if scope["path"] not in self.raw_paths:
                check_body(content_type, body, self.max_json_depth)
        except LabgateError as error:
            await self._refuse(scope, receive, send, error)
            return
        scope.setdefault("state", {})["payload_hash"] = (
            hashlib.sha256(body).hexdigest() if body else None
        )

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"The request body is larger than the {self.max_bytes} bytes accepted.", field="body"
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: LabgateError
    ) -> None:
        response = await self.refuse(scope, error)
        await response(scope, receive, send)
