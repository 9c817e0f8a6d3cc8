"""ASGI middleware: correlation ids on every request, and a hard cap on body size."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uuid6 import uuid7

from labgate.domain.errors import LabgateError


class BodyTooLarge(LabgateError):
    """The request body exceeds LABGATE_MAX_BODY_BYTES."""

    status = 413
    default_reason = "request.too_large"


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
    """Refuse bodies over the limit, declared or streamed, before anything parses them."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        refuse: Callable[[Scope, BodyTooLarge], Awaitable[ASGIApp]],
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # Undeclared (chunked) bodies are buffered up to the limit, then replayed.
        messages: list[Message] = []
        seen, more = 0, True
        while more:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send)
                return

        # The hash of the raw bytes goes on audit entries (the payload hash of interface events).
        body = b"".join(m.get("body", b"") for m in messages)
        scope.setdefault("state", {})["payload_hash"] = (
            hashlib.sha256(body).hexdigest() if body else None
        )

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(
            f"The request body is larger than the {self.max_bytes} bytes accepted.", field="body"
        )
        response = await self.refuse(scope, error)
        await response(scope, receive, send)
