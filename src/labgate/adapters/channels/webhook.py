"""Webhooks: each signed envelope is POSTed to the destination's URL; 2xx means taken.

The `Idempotency-Key` header carries the message id (as the envelope does), so a receiver that
sees a message twice (a retry after a timeout) can answer 2xx again and change nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType

import httpx2 as httpx

from labgate.service.outbox.relay import DeliveryFailed

EXCERPT = 200  # characters of a refusing receiver's answer kept in the attempt log


class WebhookTransport:
    """Delivers envelopes by HTTP(S) POST, one URL per destination; optional mutual TLS."""

    def __init__(
        self,
        url_by_destination: Mapping[str, str],
        timeout_s: float = 10,
        client: httpx.Client | None = None,
        *,
        cert: tuple[str, str] | None = None,
        verify: str | bool = True,
    ) -> None:
        self.urls = dict(url_by_destination)
        self.timeout_s = timeout_s
        self._owned = client is None
        self.client = client or httpx.Client(
            timeout=timeout_s, verify=tls_context(cert, verify), follow_redirects=False
        )

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        """POST the envelope; raise DeliveryFailed unless the receiver answers 2xx in time."""
        self.post(destination, envelope, {"Content-Type": "application/json"}, message_id)

    def post(
        self, destination: str, body: bytes, headers: Mapping[str, str], message_id: str
    ) -> None:
        """POST any body with its headers (and the Idempotency-Key); 2xx in time, or
        DeliveryFailed."""
        url = self.urls.get(destination)
        if url is None:
            raise DeliveryFailed(
                f"No webhook URL for destination {destination!r}; "
                f"set LABGATE_{destination.upper()}_WEBHOOK_URL."
            )
        headers = {**headers, "Idempotency-Key": message_id}
        where = shown(url)
        try:
            answer = self.client.post(url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.TimeoutException as error:
            raise DeliveryFailed(
                f"{where} did not answer within {self.timeout_s:g} s ({type(error).__name__})."
            ) from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(
                f"{where} could not be reached: {type(error).__name__}: {error}"
            ) from None
        if not answer.is_success:
            excerpt = " ".join(answer.text[:EXCERPT].split())
            raise DeliveryFailed(f"{where} answered HTTP {answer.status_code}: {excerpt}")

    def close(self) -> None:
        """Close the connections, if this transport opened the client."""
        if self._owned:
            self.client.close()

    def __enter__(self) -> WebhookTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def tls_context(cert: tuple[str, str] | None, verify: str | bool) -> ssl.SSLContext | bool:
    """TLS settings as an SSLContext: a CA file to trust, a client certificate for mutual TLS."""
    if cert is None and not isinstance(verify, str):
        return verify
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(certfile=cert[0], keyfile=cert[1])
    return context


def shown(url: str) -> str:
    """The URL without credentials or query (they would end up in the attempt log)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"
