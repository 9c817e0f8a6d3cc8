"""A fake external LIMS with a REST API of its own and LIMS-native names, for the connector's
tests: POST /api/samples registers a sample ({"Sample": {"Id": "LW-000001"}}), GET
/api/results?after=N lists the result records entered after N ({"Results": [...], "Last": N}).
It holds everything in memory and runs in a thread on a loopback port; the test enters results
as the lab's analysts and reviewers would."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from labgate.adapters.connectors.partner.serving import serving
from sshd import free_port

TOKEN_HEADER = "x-lims-token"


@dataclass
class FakeLims:
    """The LIMS's memory: samples registered, result records entered, calls seen."""

    token: str
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    polls: list[str | None] = field(default_factory=list)
    rewound: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, lims_sample: str, analysis: str, value: Any, units: str | None,
              status: str = "A", **extra: Any) -> str:  # fmt: skip
        """A result record as an analyst enters it (and a reviewer approves it, for "A")."""
        with self.lock:
            seq = len(self.results) + 1
            sample = self.samples.get(lims_sample, {})
            codes, versions = sample.get("Analyses", []), sample.get("MethodVersions", [])
            planned = dict(zip(codes, versions, strict=True))
            record = {
                "ResultId": f"RR-{seq:05d}",
                "Seq": seq,
                "SampleId": lims_sample,
                "Analysis": analysis,
                "Value": value,
                "Units": units,
                "MethodVersion": planned.get(analysis, "1"),  # as the registration said
                "EnteredBy": "jdoe",
                "Status": status,
                "ApprovedBy": "asmith" if status == "A" else None,
                "ApprovedOn": "2026-11-25T08:00:00Z" if status == "A" else None,
                **extra,
            }
            self.results.append(record)
            return str(record["ResultId"])

    def rewind(self) -> None:
        """The next poll gets every record again, whatever its cursor (a LIMS restored from a
        backup, or one whose cursor is inclusive)."""
        self.rewound = True

    async def register(self, request: Request) -> Response:
        if request.headers.get(TOKEN_HEADER) != self.token:
            return JSONResponse({"Error": "bad token"}, 401)
        body = await request.json()
        with self.lock:
            lims_id = f"LW-{len(self.samples) + 1:06d}"
            self.samples[lims_id] = body
        return JSONResponse({"Sample": {"Id": lims_id, "Name": body.get("SampleName")}}, 201)

    async def list_results(self, request: Request) -> Response:
        if request.headers.get(TOKEN_HEADER) != self.token:
            return JSONResponse({"Error": "bad token"}, 401)
        after = request.query_params.get("after")
        with self.lock:
            self.polls.append(after)
            start = 0 if self.rewound else int(after or 0)
            self.rewound = False
            page = [r for r in self.results if r["Seq"] > start]
            last = max([start, *(r["Seq"] for r in page)])
        return JSONResponse({"Results": page, "Last": last})

    def app(self) -> Starlette:
        """The LIMS's REST API."""
        return Starlette(
            routes=[
                Route("/api/samples", self.register, methods=["POST"]),
                Route("/api/results", self.list_results, methods=["GET"]),
            ]
        )


@contextlib.contextmanager
def serving_lims(token: str) -> Iterator[tuple[FakeLims, str]]:
    """The fake LIMS served on a free loopback port, from a thread of its own (with the
    simulators' `serving`); it and its base URL."""
    lims, port = FakeLims(token), free_port()
    started = threading.Event()
    loop_box: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop_box.append((asyncio.get_running_loop(), stop))
        async with serving(lims.app(), "127.0.0.1", port):
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the fake LIMS did not start"
    try:
        yield lims, f"http://127.0.0.1:{port}"
    finally:
        loop, stop = loop_box[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
