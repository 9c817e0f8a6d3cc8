"""A LIMS that reports results in file packs, the way a plant's file interface would: CSV files
under a manifest signed with its own key, one sequence number per pack."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg

from labgate.adapters.codecs.filepack import DataFile, build_pack, csv_bytes, tar_bytes
from labgate.bootstrap import Hub
from plant import SITE
from senders import Sender, register, request


def result(sample: str, value: str, test: str = "ASSAY", **extra: Any) -> dict[str, Any]:
    row = {
        "sample": sample,
        "test_code": test,
        "value": value,
        "unit": "%" if test != "APPEAR" else None,
        "method_version": "1",
        "analyst": "analyst",
        "lims_status": "preliminary",
    }
    return {**row, **extra}


@dataclass
class PackSender:
    """Signs packs of result rows on its stream; numbers them itself."""

    hub: Hub
    source: str
    kid: str
    private: dict[str, Any]
    stream: str = "results"
    sequence: int = 0

    def pack(self, rows: list[dict[str, Any]], **overrides: Any) -> tuple[str, bytes]:
        self.sequence += 1
        data = csv_bytes(rows)
        files = overrides.pop("files", [DataFile("results.csv", data, len(rows))])
        return build_pack(
            files,
            site=overrides.pop("site", SITE),
            source=self.source,
            stream=self.stream,
            sequence=overrides.pop("sequence", self.sequence),
            kid=self.kid,
            private_jwk=self.private,
            sent_at=overrides.pop("sent_at", self.hub.bus.deps.clock.now()),
            correlation_id=f"pack-{self.sequence}",
            **overrides,
        )


def members_of(pack: bytes) -> list[tuple[str, bytes]]:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(pack)) as archive:
        return [(m.name, archive.extractfile(m).read()) for m in archive]  # type: ignore[union-attr]


def repack(
    pack: bytes, replace: dict[str, bytes], extra: tuple[tuple[str, bytes], ...] = ()
) -> bytes:
    """The same pack with some members' bytes replaced or added (the manifest as signed)."""
    members = [(name, replace.get(name, data)) for name, data in members_of(pack)]
    return tar_bytes([*members, *extra])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PgpParty:
    """One side of a PGP exchange: its own GnuPG home and key fingerprint."""

    home: Path
    fingerprint: str


@contextmanager
def pgp_parties() -> Iterator[tuple[PgpParty, PgpParty, PgpParty]]:
    """labgate, a trusted LIMS and a stranger, each with an Ed25519/Cv25519 key, no passphrase;
    labgate holds both senders' public keys, the senders hold labgate's."""
    root = Path(tempfile.mkdtemp(prefix="lg-gpg-", dir="/tmp"))  # short: gpg-agent socket paths
    parties = []
    try:
        for name in ("labgate", "lims", "stranger"):
            home = root / name
            home.mkdir(mode=0o700)
            gpg = gnupg.GPG(gnupghome=str(home))
            key = gpg.gen_key(
                gpg.gen_key_input(
                    key_type="EDDSA",
                    key_curve="ed25519",
                    subkey_type="ECDH",
                    subkey_curve="cv25519",
                    name_real=name,
                    name_email=f"{name}@labgate.invalid",
                    no_protection=True,
                )
            )
            assert key.fingerprint, key.stderr
            parties.append(PgpParty(home, str(key.fingerprint)))
        labgate, lims, stranger = parties
        for a, b in ((labgate, lims), (labgate, stranger), (lims, labgate), (stranger, labgate)):
            exported = gnupg.GPG(gnupghome=str(b.home)).export_keys(b.fingerprint)
            gnupg.GPG(gnupghome=str(a.home)).import_keys(exported)
        yield labgate, lims, stranger
    finally:
        for party in parties:
            kill = ["gpgconf", "--homedir", str(party.home), "--kill", "all"]
            subprocess.run(kill, check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def registered_lims(hub: Hub, samples: int = 2) -> PackSender:
    """A LIMS with registered samples (two: S-000001 and S-000002), reporting in packs."""
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))
    private = register(hub, "lims", "lims-1")
    registrations = Sender(hub, "lims", "registrations", "lims-1", private)
    for n in range(1, samples + 1):
        mes.send(request(mes, f"REQ-{n}", sent_at=hub.bus.deps.clock.now()))
        registration = {"sample": f"S-{n:06d}"}
        registrations.send(registrations.envelope("labgate.sample_registration.v1", registration))
    return PackSender(hub, "lims", "lims-1", private)
