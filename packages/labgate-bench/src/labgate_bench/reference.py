"""The raw limit of `ingest.rest_50`: a lean inbox on labgate's web stack (FastAPI under uvicorn)
and database, with the same durability (labgate's engine: SQLite in WAL with synchronous=FULL,
PostgreSQL with synchronous commits), doing the essential work of one signed result and nothing
more:

    verify the detached Ed25519 JWS over the envelope's RFC 8785 canonical form → read the
    result → evaluate its value against a limit → in one transaction: the inbox key (a duplicate
    is answered as one and changes nothing), the result row, an audit row chained to the hash
    of the one before, an outbox row

Requests that arrive while a transaction is being written wait for the next one, and share it
(group commit); each is answered only once its own transaction has committed. No sign-in, no
ordering per stream, no master data: what it leaves out is what labgate's design costs.

Run as its own process, as `labgate serve` is:
`python -m labgate_bench.reference --database URL --key PUBLIC_JWK_FILE --port P`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import rfc8785
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from labgate.adapters.store.engine import make_engine
from labgate.config import Settings
from labgate.entrypoints.api.serving import uvicorn_options

LIMIT = Decimal("100")  # NMT 100: a value above it is out of specification
MOST_IN_ONE_COMMIT = 1000

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ref_inbox (source VARCHAR(64) NOT NULL, "
    "message_id VARCHAR(64) NOT NULL, PRIMARY KEY (source, message_id))",
    "CREATE TABLE IF NOT EXISTS ref_results (message_id VARCHAR(64) PRIMARY KEY, "
    "sample VARCHAR(64), test_code VARCHAR(64), value VARCHAR(64), unit VARCHAR(32), "
    "conforms BOOLEAN)",
    "CREATE TABLE IF NOT EXISTS ref_audit (position INTEGER PRIMARY KEY, "
    "previous VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL, entry TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ref_outbox (message_id VARCHAR(64) PRIMARY KEY, "
    "destination VARCHAR(16) NOT NULL, payload TEXT NOT NULL)",
)


def b64url(text: str) -> bytes:
    """Bytes from unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Checked:
    """One envelope, verified and evaluated: what its transaction writes."""

    source: str
    message_id: str
    sample: str
    test_code: str
    value: str
    unit: str
    conforms: bool


class Refused(Exception):
    """An envelope the reference does not take (bad signature, malformed)."""


def check(raw: bytes, key: Ed25519PublicKey, kid: str) -> Checked:
    """Verify the signature over the canonical envelope, read the result, evaluate it."""
    try:
        document = json.loads(raw)
        signature = document.pop("signature")
        if signature["kid"] != kid:
            raise Refused("unknown key")
        header, _, sig = signature["jws"].partition("..")
        key.verify(b64url(sig), header.encode() + b"." + rfc8785.dumps(document))
        payload = document["payload"]
        conforms = Decimal(payload["value"]) <= LIMIT
    except (ValueError, KeyError, TypeError, InvalidOperation, InvalidSignature) as error:
        raise Refused(f"refused: {type(error).__name__}") from None
    return Checked(document["source"], document["message_id"], payload["sample"],
                   payload["test_code"], payload["value"], payload["unit"], conforms)  # fmt: skip


class GroupCommit:
    """One writer: takes every envelope waiting, writes them in one transaction, answers each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waiting: asyncio.Queue[tuple[Checked, asyncio.Future[bool]]] = asyncio.Queue()

    async def submit(self, checked: Checked) -> bool:
        """True once committed; False if its message id was taken before (a duplicate)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self.waiting.put((checked, done))
        return await done

    async def run(self) -> None:
        """Forever: wait for one, take all that are waiting, commit them together."""
        while True:
            group = [await self.waiting.get()]
            while not self.waiting.empty() and len(group) < MOST_IN_ONE_COMMIT:
                group.append(self.waiting.get_nowait())
            try:
                fresh = await asyncio.to_thread(self.write, [checked for checked, _ in group])
            except Exception as error:  # the whole group failed: each request says so
                for _, done in group:
                    done.set_exception(error)
                continue
            for (_, done), is_fresh in zip(group, fresh, strict=True):
                done.set_result(is_fresh)

    def write(self, group: list[Checked]) -> list[bool]:
        """One transaction for the group; per envelope, whether it was new."""
        with self.engine.begin() as db:
            marks = ", ".join(f":m{i}" for i in range(len(group)))
            known = db.execute(
                text(f"SELECT source, message_id FROM ref_inbox WHERE message_id IN ({marks})"),
                {f"m{i}": c.message_id for i, c in enumerate(group)},
            )
            taken = {(row.source, row.message_id) for row in known}
            fresh: list[bool] = []
            new: list[Checked] = []
            for c in group:
                is_new = (c.source, c.message_id) not in taken
                taken.add((c.source, c.message_id))
                fresh.append(is_new)
                if is_new:
                    new.append(c)
            if not new:
                return fresh
            db.execute(text("INSERT INTO ref_inbox VALUES (:source, :message_id)"),
                       [{"source": c.source, "message_id": c.message_id} for c in new])  # fmt: skip
            db.execute(
                text("INSERT INTO ref_results VALUES (:message_id, :sample, :test_code, :value, "
                     ":unit, :conforms)"),
                [c.__dict__ for c in new],
            )  # fmt: skip
            head = db.execute(
                text("SELECT position, hash FROM ref_audit ORDER BY position DESC LIMIT 1")
            ).first()
            position, previous = (head.position, head.hash) if head else (0, "0" * 64)
            entries = []
            for c in new:
                entry = json.dumps({"action": "result.recorded", "record": c.message_id,
                                    "after": c.__dict__}, sort_keys=True)  # fmt: skip
                digest = hashlib.sha256((previous + entry).encode()).hexdigest()
                position += 1
                entries.append({"position": position, "previous": previous, "hash": digest,
                                "entry": entry})  # fmt: skip
                previous = digest
            db.execute(text("INSERT INTO ref_audit VALUES (:position, :previous, :hash, :entry)"),
                       entries)  # fmt: skip
            db.execute(
                text("INSERT INTO ref_outbox VALUES (:message_id, 'mes', :payload)"),
                [{"message_id": c.message_id,
                  "payload": json.dumps({"sample": c.sample, "conforms": c.conforms})}
                 for c in new],
            )  # fmt: skip
        return fresh


def reference_app(database_url: str, public_jwk: dict[str, Any]) -> FastAPI:
    """The lean inbox over `database_url` (its tables made if missing)."""
    engine = make_engine(database_url)
    with engine.begin() as db:
        for statement in SCHEMA:
            db.execute(text(statement))
    key = Ed25519PublicKey.from_public_bytes(b64url(public_jwk["x"]))
    writer = GroupCommit(engine)

    @asynccontextmanager
    async def writing(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(writer.run())
        yield
        task.cancel()

    app = FastAPI(lifespan=writing, telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/api/v1/inbox")
    async def inbox(request: Request) -> JSONResponse:
        try:
            checked = check(await request.body(), key, public_jwk["kid"])
        except Refused as error:
            return JSONResponse({"detail": str(error)}, 422)
        fresh = await writer.submit(checked)
        return JSONResponse({"status": "accepted" if fresh else "duplicate",
                             "conforms": checked.conforms})  # fmt: skip

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve the reference until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--key", type=Path, required=True, help="the signer's public JWK file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    jwk = json.loads(options.key.read_text(encoding="utf-8"))
    app = reference_app(options.database, jwk)
    # labgate's own server options (h11 with its header deadline, keep-alive): the same stack.
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning",
                **uvicorn_options(Settings()))  # fmt: skip


if __name__ == "__main__":
    main()
