"""Webhooks to a receiver that speaks B2MML V0701 (an MES, typically): each outgoing message is
written as the B2MML document its type maps to, validated against the MESA schemas, and signed
with labgate's key as a detached JWS over the document's exact bytes.

Headers: `X-Labgate-Signature` (the JWS), `X-Labgate-Schema`, `X-Labgate-Stream`,
`X-Labgate-Sequence`, `X-Labgate-Correlation-Id`, and `Idempotency-Key` (the message id, also
the document's BODID). A message type with no B2MML form (an invalidation, a cancellation) goes
as its signed JSON envelope, so the receiver is never left without it."""

from __future__ import annotations

from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.codecs.b2mml_messages import UnsupportedMessage, to_b2mml
from labgate.compliance.detached import sign_detached
from labgate.compliance.envelope import parse_envelope
from labgate.compliance.signer import Signer


class B2mmlWebhook:
    """Delivers B2MML documents to one destination's webhook."""

    def __init__(self, webhook: WebhookTransport, signer: Signer) -> None:
        self.webhook, self.signer = webhook, signer

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        """Write, sign and POST the document; the JSON envelope for types B2MML lacks."""
        parsed = parse_envelope(envelope)
        try:
            body = to_b2mml(
                parsed.schema, parsed.payload, message_id=message_id, sent_at=parsed.sent_at
            )
        except UnsupportedMessage:
            self.webhook.deliver(destination, envelope, message_id)
            return
        headers = {
            "Content-Type": "application/xml",
            "X-Labgate-Signature": sign_detached(body, self.signer.kid, self.signer.private_jwk),
            "X-Labgate-Schema": parsed.schema,
            "X-Labgate-Stream": parsed.stream,
            "X-Labgate-Sequence": str(parsed.sequence),
        }
        if parsed.correlation_id:
            headers["X-Labgate-Correlation-Id"] = parsed.correlation_id
        self.webhook.post(destination, body, headers, message_id)
