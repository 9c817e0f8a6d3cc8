"""File-pack transport over SFTP (asyncssh client): the same folder tree on a remote server.

Moves use the plain SFTP rename, which never replaces its target (OpenSSH links, then unlinks),
so a lost claim race or a re-sent name fails instead of overwriting. `posix-rename`, which does
replace, is used only for a note's temporary file, whose target belongs to the pack just moved.
Host keys are always checked unless the target says otherwise."""

from __future__ import annotations

import functools
import posixpath
import stat
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncssh

from labgate.adapters.channels.packstore import (
    FOLDERS,
    NOTE_SUFFIX,
    PackExists,
    TransportUnavailable,
    check_folder,
    check_outcome,
    check_pack_name,
    is_pack,
    not_claimed,
    not_regular,
    suffixed,
)
from labgate.domain.errors import InvalidInput

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class SftpTarget:
    """Where a pack exchange lives on an SFTP server, and how labgate signs in to it."""

    host: str
    port: int
    username: str
    root: str  # folder on the server holding incoming/, work/, processed/, rejected/
    client_key: Path
    known_hosts: Path | None  # None: host key unchecked, refused unless allow_unknown_host
    allow_unknown_host: bool = False
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.known_hosts is None and not self.allow_unknown_host:
            raise InvalidInput(
                f"SFTP target {self.host}:{self.port} has no known_hosts file, so anyone on the "
                "path could pose as the server; give one, or allow_unknown_host for a test peer.",
                reason="pack.host_key_unchecked",
                field="known_hosts",
            )


def unavailable(what: str, error: BaseException) -> TransportUnavailable:
    """TransportUnavailable for `what` failed, in the driver's own words."""
    cause = str(error).rstrip(".") or type(error).__name__
    return TransportUnavailable(f"{what}: {cause}.")


def _translated(
    method: Callable[Concatenate[SftpPackStore, P], Awaitable[T]],
) -> Callable[Concatenate[SftpPackStore, P], Coroutine[Any, Any, T]]:
    """Turn asyncssh's errors that a method did not handle (link lost, permission denied)
    into TransportUnavailable, so callers see one error tree whatever the channel."""

    @functools.wraps(method)
    async def translating(store: SftpPackStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(store, *args, **kwargs)
        except (OSError, asyncssh.Error) as error:
            raise unavailable(f"SFTP operation on {store.where} failed", error) from error

    return translating


class SftpPackStore:
    """A pack exchange on an SFTP server; `open()` it (or `async with`) before use."""

    channel = "sftp"

    def __init__(self, target: SftpTarget) -> None:
        self.target = target
        self._connection: asyncssh.SSHClientConnection | None = None
        self._client: asyncssh.SFTPClient | None = None

    @property
    def where(self) -> str:
        """host:port, for messages."""
        return f"{self.target.host}:{self.target.port}"

    async def open(self) -> SftpPackStore:
        """Connect and start the SFTP session; raises TransportUnavailable naming host:port."""
        if self._connection is not None:
            raise RuntimeError("Cannot open an SftpPackStore more than once; close() it first.")
        target = self.target
        known_hosts = None if target.known_hosts is None else str(target.known_hosts)
        try:
            self._connection = await asyncssh.connect(
                target.host,
                target.port,
                username=target.username,
                client_keys=[str(target.client_key)],
                known_hosts=known_hosts,
                connect_timeout=target.connect_timeout,
                config=None,  # no ~/.ssh/config: the target says everything
                agent_path=None,
                preferred_auth="publickey",
            )
            self._client = await self._connection.start_sftp_client()
        except (OSError, asyncssh.Error, ValueError) as error:  # ValueError: an unreadable key
            await self.close()
            raise unavailable(f"Cannot open an SFTP session on {self.where}", error) from error
        return self

    async def __aenter__(self) -> SftpPackStore:
        return await self.open()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End the SFTP session and the SSH connection (safe to call twice)."""
        client, connection = self._client, self._connection
        self._client = self._connection = None
        if client is not None:
            client.exit()
        if connection is not None:
            connection.close()
            await connection.wait_closed()

    @property
    def sftp(self) -> asyncssh.SFTPClient:
        if self._client is None:
            raise TransportUnavailable(
                f"SFTP pack store for {self.where} is not open; call open() first."
            )
        return self._client

    def _dir(self, folder: str) -> str:
        return posixpath.join(self.target.root, folder)

    def _path(self, folder: str, name: str) -> str:
        return posixpath.join(self._dir(folder), check_pack_name(name))

    @_translated
    async def prepare(self) -> None:
        """Create the four folders if they are missing."""
        for folder in FOLDERS:
            await self.sftp.makedirs(self._dir(folder), exist_ok=True)

    @_translated
    async def ready(self) -> list[str]:
        """Complete packs waiting in incoming/, sorted."""
        return await self.listing("incoming")

    @_translated
    async def claim(self, name: str) -> bool:
        """Move incoming/name to work/; False if it is gone or work/ already holds that name."""
        try:
            await self.sftp.rename(self._path("incoming", name), self._path("work", name))
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPFailure):
            return False
        return True

    @_translated
    async def claimed(self) -> list[str]:
        """Packs left in work/ by a worker that stopped before finishing them, sorted."""
        return await self.listing("work")

    @_translated
    async def read(self, name: str) -> bytes:
        """The bytes of a claimed pack (a symlink is refused, never followed)."""
        path = self._path("work", name)
        try:
            if not stat.S_ISREG((await self.sftp.lstat(path)).permissions or 0):
                raise not_regular(name)
            async with self.sftp.open(path, "rb") as file:
                data: bytes = await file.read()
        except asyncssh.SFTPNoSuchFile:
            raise not_claimed(name) from None
        return data

    @_translated
    async def finish(self, name: str, outcome: str, note: bytes | None = None) -> None:
        """Move work/name to processed/ or rejected/, with an optional `.reason.json` note."""
        source, folder = self._path("work", name), self._dir(check_outcome(outcome))
        attempt = 0
        while True:
            target = posixpath.join(folder, suffixed(name, attempt))
            try:
                await self.sftp.rename(source, target)
                break
            except asyncssh.SFTPNoSuchFile:
                raise not_claimed(name) from None
            except asyncssh.SFTPFailure:
                if not await self.sftp.exists(target):
                    raise  # not a clash: let the server's reason through
                attempt += 1
        if note is not None:
            final = posixpath.basename(target) + NOTE_SUFFIX
            temp = posixpath.join(folder, f".{final}.part")
            await self._write(temp, note)
            await self.sftp.posix_rename(temp, posixpath.join(folder, final))

    @_translated
    async def put(self, name: str, data: bytes) -> None:
        """Publish a pack in incoming/ as a sender does: write `.name.part`, then rename."""
        target = self._path("incoming", name)
        temp = posixpath.join(self._dir("incoming"), f".{name}.part")
        await self._write(temp, data)
        try:
            await self.sftp.rename(temp, target)
        except asyncssh.SFTPFailure:
            await self.sftp.remove(temp)
            raise PackExists(
                f"Pack {name} is already waiting in incoming/; send it under a new name.",
                field="name",
            ) from None

    async def _write(self, path: str, data: bytes) -> None:
        async with self.sftp.open(path, "wb") as file:
            await file.write(data)
            await file.fsync()  # fsync@openssh.com: on the server's disk before the rename

    @_translated
    async def listing(self, folder: str) -> list[str]:
        """Names of the complete packs (regular files) in one of FOLDERS, sorted."""
        entries = await self.sftp.readdir(self._dir(check_folder(folder)))
        names = [
            str(entry.filename)
            for entry in entries
            if is_pack(str(entry.filename)) and stat.S_ISREG(entry.attrs.permissions or 0)
        ]
        return sorted(names)
