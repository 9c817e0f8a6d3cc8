"""`labgate serve --workers 2` on PostgreSQL: two processes answer the REST channel, and two MES
streams sent out of order and at once through both are each applied exactly once, in sequence
(turns are taken through the database, not inside one process)."""

from __future__ import annotations

import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx2 as httpx
import psycopg

from hubproc import Hub, Proc, pg_url, wait_until
from labgate.compliance.envelope import build_envelope, encode

PER_STREAM = 12


def requests(hub: Hub, stream: str) -> list[bytes]:
    """A stream of signed sample requests from the MES, sequence 1 upwards."""
    private = json.loads((hub.folder / "keys" / "mes-sim-1.private.jwk.json").read_text())
    bodies = []
    for sequence in range(1, PER_STREAM + 1):
        payload = {"mes_request_id": f"W-{stream}-{sequence:02d}", "product": "PCM-500",
                   "batch": "B-PCM-24002", "sampling_point": "SP-PCM-REL",
                   "sampled_at": "2026-11-25T08:00:00Z"}  # fmt: skip
        document = build_envelope("labgate.sample_request.v1", "PLT1", "mes", stream, sequence,
                                  payload, kid="mes-sim-1", private_jwk=private,
                                  sent_at=datetime.now(UTC))  # fmt: skip
        bodies.append(encode(document))
    return bodies


def test_two_worker_processes_apply_two_streams_once_each_in_order(running: Hub) -> None:
    serve = running.start("serve", "serve", "--port", str(running.port), "--workers", "2")
    wait_until("both workers up", lambda: len(workers(serve)) == 2, [serve], seconds=120)
    running.wait_serving()
    streams = {name: requests(running, name) for name in ("workers-a", "workers-b")}
    sent = [body for bodies in streams.values() for body in bodies]
    random.Random(7).shuffle(sent)  # out of order within each stream, interleaved across them
    headers = {"X-API-Key": running.credentials["mes"], "Content-Type": "application/json"}

    def post(body: bytes) -> int:
        answer = httpx.post(f"{running.url}/api/v1/inbox", content=body, headers=headers,
                            timeout=60)  # fmt: skip
        assert answer.status_code in (200, 202), answer.text
        return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, sent))
    assert codes.count(200) + codes.count(202) == len(sent)

    with psycopg.connect(pg_url(running.database).replace("+psycopg", "")) as connection:
        inbox = connection.execute(
            "SELECT stream, status, count(*) FROM inbox_messages WHERE stream LIKE 'workers-%' "
            "GROUP BY stream, status"
        ).fetchall()
        made = connection.execute(
            "SELECT mes_request_id FROM samples WHERE mes_request_id LIKE 'W-%' ORDER BY id"
        ).fetchall()
    assert sorted(inbox) == [("workers-a", "applied", PER_STREAM),
                             ("workers-b", "applied", PER_STREAM)]  # fmt: skip
    for name in streams:  # each stream's samples were made in its sequence order
        mine = [row[0] for row in made if row[0].startswith(f"W-{name}-")]
        assert mine == [f"W-{name}-{n:02d}" for n in range(1, PER_STREAM + 1)]
    assert len(workers(serve)) == 2 and serve.alive  # both still there


def workers(serve: Proc) -> set[str]:
    """The worker processes uvicorn says it started (process ids)."""
    return set(re.findall(r"Started server process \[(\d+)\]", serve.output()))
