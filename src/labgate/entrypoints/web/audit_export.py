"""The audit export as a download: the very files `labgate audit export` writes (its export
function, on one snapshot of the trail), zipped so that the same trail gives the same bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import Response

from labgate.adapters.reports.audit_export import export
from labgate.adapters.store.audit_store import read_head, snapshot
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer

# A fixed time inside the zip: the entries carry their own times, and the same trail must
# zip to the same bytes whenever it is downloaded.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ExportZip:
    """One export, zipped: its bytes, its SHA-256, the head it reaches, the files inside."""

    data: bytes
    head_seq: int
    files: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """The SHA-256 of the zip, hex."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def filename(self) -> str:
        """`labgate-audit-to-1234.zip`: the last entry it holds, in its name."""
        return f"labgate-audit-to-{self.head_seq}.zip"

    def response(self) -> Response:
        """The download, its digest in the Repr-Digest header (RFC 9530)."""
        digest = base64.b64encode(hashlib.sha256(self.data).digest()).decode()
        headers = {
            "Repr-Digest": f"sha-256=:{digest}:",
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(self.data, media_type="application/zip", headers=headers)


def trusted_keys(hub: Hub) -> list[dict[str, Any]]:
    """The keys checkpoints must be signed by, as GET /api/v1/audit/verify takes them."""
    key = hub.settings.signing_key_file
    return [Signer.from_file(key).public_jwk] if key is not None else []


def export_zip(hub: Hub, readable: str) -> ExportZip:
    """The export of the whole trail (JSON lines, head and signed checkpoints with their public
    keys, and the readable HTML or CSV), written by the CLI's function into a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="labgate-export-") as scratch:
        with snapshot(hub.sessions) as session:
            head = read_head(session)
            written = export(session, Path(scratch), readable, trusted_keys(hub))
        return ExportZip(_zipped(written), head.seq, tuple(p.name for p in written))


def _zipped(files: list[Path]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(zipfile.ZipInfo(path.name, ZIP_TIME), path.read_bytes(),
                             zipfile.ZIP_DEFLATED)  # fmt: skip
    return sink.getvalue()
