"""OpenPGP around file packs (gpg through python-gnupg): a sender encrypts a pack to labgate's
key and signs it with its own; labgate opens it only if the signature is good *and* made by a
key it was told to trust for packs. gpg's own web of trust plays no part: the trusted
fingerprints are configuration, under change control like any other."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import gnupg

from labgate.service.packs import PackRefused


class PgpGate:
    """Opens PGP-wrapped packs: decrypt, then a good signature from a trusted fingerprint."""

    def __init__(
        self,
        home: Path,
        trusted: Collection[str],
        passphrase: str | None = None,
        required: bool = False,
    ) -> None:
        self.gpg = gnupg.GPG(gnupghome=str(home))
        self.trusted = {fingerprint.upper().replace(" ", "") for fingerprint in trusted}
        self.passphrase, self.required = passphrase, required

    def open(self, data: bytes) -> bytes:
        """The pack inside; refused with its reason unless decrypted and signed by a trusted key."""
        result = self.gpg.decrypt(data, passphrase=self.passphrase)
        if not result.ok:
            raise PackRefused(
                f"The PGP pack could not be decrypted ({result.status or 'no status'}); it must "
                "be encrypted to labgate's pack key and intact.",
                reason="pack.pgp_decrypt",
                field="pgp",
            )
        signer = {
            str(result.fingerprint or "").upper(),
            str(result.pubkey_fingerprint or "").upper(),
        }
        if not result.valid or not (signer & self.trusted):
            who = result.pubkey_fingerprint or result.key_id or "no signer"
            raise PackRefused(
                f"The PGP pack's signature is not a good signature by a trusted sender key "
                f"({result.status or 'unsigned'}; {who}).",
                reason="pack.pgp_signature",
                field="pgp",
            )
        return bytes(result.data)


def seal(home: Path, data: bytes, recipient: str, signer: str, passphrase: str | None) -> bytes:
    """A sender's side: encrypt `data` to `recipient` and sign it with `signer` (fingerprints)."""
    gpg = gnupg.GPG(gnupghome=str(home))
    result = gpg.encrypt(
        data, [recipient], sign=signer, passphrase=passphrase, armor=False, always_trust=True
    )
    if not result.ok:
        raise PackRefused(f"gpg could not seal the pack: {result.status}.", reason="pack.pgp_seal")
    return bytes(result.data)
