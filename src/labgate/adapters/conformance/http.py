"""The partner under test over HTTP(S), as labgate's webhook transport reaches it: a POST of the
envelope with Idempotency-Key, and — where the partner offers it — a GET of its record of what
it applied (`<target>/_conformance/applied?stream=S`, as the simulators serve it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType

import httpx2 as httpx

from labgate.adapters.channels.webhook import tls_context
from labgate.compliance.clock import iso_utc
from labgate.service.conformance.cases import Answer

EXCERPT = 500  # characters of an answer kept as evidence
EVIDENCE = "_conformance/applied"


class HttpPartner:
    """POSTs envelopes to `target`; never follows redirects (a webhook answers itself)."""

    def __init__(
        self, target: str, timeout_s: float = 10, *, verify: str | bool = True,
        cert: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.target = target
        self.client = httpx.Client(
            timeout=timeout_s, verify=tls_context(cert, verify), follow_redirects=False
        )

    def post(
        self, body: bytes, message_id: str, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """One envelope (or, with its `headers`, a document); status 0 with the error when the
        partner cannot be reached."""
        headers = {"Content-Type": "application/json", **(headers or {}),
                   "Idempotency-Key": message_id}  # fmt: skip
        at, start = iso_utc(datetime.now(UTC)), time.perf_counter()
        try:
            answer = self.client.post(self.target, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Answer(0, f"{type(error).__name__}: {error}"[:EXCERPT], at, _since(start))
        return Answer(answer.status_code, answer.text[:EXCERPT], at, _since(start))

    def applied(self, stream: str) -> list[str] | None:
        """The message ids the partner says it applied on `stream`; None if it does not say."""
        url = self.target.rstrip("/") + "/" + EVIDENCE
        try:
            answer = self.client.get(url, params={"stream": stream})
            record = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("applied"), dict):
            return None
        entries = record["applied"].get(stream, [])
        return [str(e.get("message_id")) for e in entries if isinstance(e, dict)]

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def __enter__(self) -> HttpPartner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
