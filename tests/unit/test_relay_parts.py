"""The relay's small parts: the back-off schedule, labgate's signing key, the webhook's manners."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from labgate.adapters.channels.webhook import WebhookTransport, shown
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import DeliveryFailed, backoff

SECOND, CAP = timedelta(seconds=1), timedelta(minutes=10)


def test_back_off_doubles_from_the_base_and_stops_at_the_cap() -> None:
    waits = [backoff(n, 2 * SECOND, CAP).total_seconds() for n in range(1, 11)]
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
    assert backoff(10_000, 2 * SECOND, CAP) == CAP  # no overflow, however many attempts


def test_the_signer_reads_the_file_keys_generate_writes(tmp_path: Path) -> None:
    signer = Signer.generate("labgate-1")
    path = tmp_path / "labgate-1.private.jwk.json"
    path.write_text(json.dumps({**signer.private_jwk, "kid": "labgate-1"}), encoding="utf-8")
    assert Signer.from_file(path) == signer
    assert signer.public_jwk == {k: signer.private_jwk[k] for k in ("kty", "crv", "x")}
    assert signer.private_jwk["d"] not in repr(signer)


def test_the_signer_refuses_a_public_key_or_a_bad_key_id(tmp_path: Path) -> None:
    signer = Signer.generate("labgate-1")
    with pytest.raises(ValueError, match="private JWK"):
        Signer("labgate-1", signer.public_jwk)
    with pytest.raises(ValueError, match="Key id"):
        Signer("labgate/1", signer.private_jwk)
    with pytest.raises(ValueError, match="Cannot read"):
        Signer.from_file(tmp_path / "missing.json")


def recorded(status: int, seen: list[httpx.Request]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text="maintenance until 14:00\nsee notice")

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_the_webhook_posts_the_envelope_with_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    with recorded(202, seen) as client:
        WebhookTransport({"mes": "https://mes.example/hook"}, client=client).deliver(
            "mes", b'{"a":1}', "0190a0a0-0000-7000-8000-000000000001"
        )
    [request] = seen
    assert (request.method, str(request.url), request.content) == (
        "POST",
        "https://mes.example/hook",
        b'{"a":1}',
    )
    assert request.headers["idempotency-key"] == "0190a0a0-0000-7000-8000-000000000001"
    assert request.headers["content-type"] == "application/json"


def test_the_webhook_reports_a_refusal_with_status_and_excerpt() -> None:
    with recorded(503, []) as client:
        transport = WebhookTransport(
            {"mes": "https://u:secret@mes.example/hook?t=1"}, client=client
        )
        with pytest.raises(DeliveryFailed) as refused:
            transport.deliver("mes", b"{}", "id")
        with pytest.raises(DeliveryFailed, match="LABGATE_LIMS_WEBHOOK_URL"):
            transport.deliver("lims", b"{}", "id")
    assert refused.value.message == (
        "https://mes.example/hook answered HTTP 503: maintenance until 14:00 see notice"
    )


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert shown("https://user:pw@mes.example:8443/hook?token=x") == "https://mes.example:8443/hook"
