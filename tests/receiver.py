"""A real HTTP receiver for the relay's tests, on 127.0.0.1 in a thread: it records every request
and misbehaves on demand (refuse some message ids, answer slowly, answer 500 a few times)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.envelope import Envelope, parse_envelope, verify_envelope
from labgate.compliance.keys import SourceKey
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import SOURCE
from plant import Plant

SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # labgate's key, as a receiver registered it


@dataclass(frozen=True)
class Request:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        """The Idempotency-Key header: what the receiver de-duplicates on."""
        return self.headers["idempotency-key"]


@dataclass
class Receiver:
    """Answers 200 unless told otherwise; `requests` holds everything received, in order."""

    requests: list[Request] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # message ids always answered 500
    failures: int = 0  # the next N requests are answered 500
    slow: int = 0  # the next N requests are answered after `delay` seconds
    delay: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def keys(self) -> list[str]:
        """The Idempotency-Key of every request, in arrival order."""
        with self.lock:
            return [r.key for r in self.requests]

    def take(self, request: Request) -> tuple[int, float]:
        """Record the request; the status to answer and how long to wait first."""
        with self.lock:
            self.requests.append(request)
            delay = 0.0
            if self.slow:
                self.slow, delay = self.slow - 1, self.delay
            if request.key in self.refuse:
                return 500, delay
            if self.failures:
                self.failures -= 1
                return 500, delay
            return 200, delay

    def start(self) -> Receiver:
        """Listen on a free port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, delay = receiver.take(Request(self.path, headers, body))
            time.sleep(delay)
            answer = b"taken" if status == 200 else b"receiver error: database busy\n" * 20
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the relay stopped waiting (its timeout): exactly the case under test

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


def verified(raw: bytes, signer: Signer) -> Envelope:
    """The envelope in `raw`, its signature checked with labgate's public key."""
    envelope = parse_envelope(raw)
    key = SourceKey(SOURCE, signer.kid, signer.public_jwk, SINCE, "test", SINCE)
    verify_envelope(envelope, key)
    return envelope


def registered_samples(plant: Plant, count: int, prefix: str = "REQ") -> list[str]:
    """Request and register `count` samples: each leaves one acknowledgement owed to the MES."""
    codes = []
    for n in range(1, count + 1):
        body = {
            "mes_request_id": f"{prefix}-{n}",
            "product": "P1",
            "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1",
            "sampling_point": "SP-REL",
        }
        answer = plant.call("mes", "POST", "/sample-requests", json=body)
        assert answer.status_code == 201, answer.text
        code = answer.json()["code"]
        lims_id = {"lims_sample_id": f"L-{prefix}-{n}"}
        registered = plant.call("lims", "POST", f"/samples/{code}/registration", json=lims_id)
        assert registered.status_code == 200, registered.text
        codes.append(code)
    return codes


def outbox_rows(hub: Hub) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    with hub.sessions() as session:
        rows = session.execute(select(t.outbox).order_by(t.outbox.c.id)).mappings()
        return [dict(r) for r in rows]


def attempt_rows(hub: Hub) -> list[dict[str, Any]]:
    """Every delivery attempt, oldest first."""
    with hub.sessions() as session:
        rows = session.execute(select(t.outbox_attempts).order_by(t.outbox_attempts.c.id))
        return [dict(r) for r in rows.mappings()]
