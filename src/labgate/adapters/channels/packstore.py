"""File-pack transport: a folder tree where a sender drops packs and labgate picks them up.

    incoming/ --claim--> work/ --finish--> processed/ | rejected/

A pack is published by renaming a hidden `.NAME.part` into place, so a reader never sees half a
file. Every move refuses to overwrite its target: a claim that loses a race returns False, and a
pack re-sent under a name already finished gets a suffix (`.1`, `.2`, ...) — nothing is lost.
Names come from the sender, so each one is checked before it touches a path."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from pathlib import Path
from typing import Protocol

from labgate.domain.errors import Conflict, InvalidInput, LabgateError, NotFound

FOLDERS = ("incoming", "work", "processed", "rejected")
OUTCOMES = ("processed", "rejected")
NOTE_SUFFIX = ".reason.json"


class UnsafePackName(LabgateError):
    """A pack name that could leave its folder, hide itself or not fit a file name."""

    default_reason = "pack.path_traversal"


class PackExists(Conflict):
    """A sender publishing a name that is still waiting in incoming/."""

    default_reason = "pack.exists"


class PackNotClaimed(NotFound):
    """A name that is not (or no longer) in work/: read or finish without a claim."""

    default_reason = "pack.not_claimed"


def not_claimed(name: str) -> PackNotClaimed:
    """The error for reading or finishing a pack that work/ does not hold."""
    return PackNotClaimed(f"Pack {name} is not in work/; claim it before reading or finishing it.")


def not_regular(name: str) -> UnsafePackName:
    """The error for a claimed name that is a symlink or another non-file: never followed."""
    return UnsafePackName(f"Pack {name} in work/ is not a regular file (a symlink?); not read.")


class TransportUnavailable(LabgateError):
    """The pack exchange cannot be reached (server down, refused key, unknown host key)."""

    default_reason = "pack.transport_unavailable"


def check_pack_name(name: str) -> str:
    """Return `name` if it is one plain, visible file name; raise UnsafePackName otherwise."""
    if (
        not name
        or any(bad in name for bad in ("/", "\\", "\0"))
        or name.startswith(".")  # also '.' and '..'
        or len(os.fsencode(name)) > 255
    ):
        raise UnsafePackName(
            f"Pack name {name[:80]!r} is not a plain file name; "
            "it must not contain '/', '\\' or NUL, start with '.', or exceed 255 bytes.",
            field="name",
        )
    return name


def is_pack(name: str) -> bool:
    """True for a complete, visible pack name (not hidden, not a `.part` still being written)."""
    return not name.startswith(".") and not name.endswith(".part")


def check_folder(folder: str) -> str:
    """Return `folder` if it is one of FOLDERS."""
    if folder not in FOLDERS:
        raise InvalidInput(f"Unknown pack folder {folder!r}; use one of {', '.join(FOLDERS)}.")
    return folder


def check_outcome(outcome: str) -> str:
    """Return `outcome` if it is 'processed' or 'rejected'."""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"Unknown pack outcome {outcome!r}; use 'processed' or 'rejected'.")
    return outcome


def suffixed(name: str, attempt: int) -> str:
    """The name a finished pack gets on its `attempt`-th clash: name, name.1, name.2, ..."""
    return name if attempt == 0 else f"{name}.{attempt}"


class PackStore(Protocol):
    """A pack exchange folder tree: incoming/ → work/ (claimed) → processed/ | rejected/."""

    channel: str

    async def prepare(self) -> None: ...
    async def ready(self) -> list[str]: ...
    async def claim(self, name: str) -> bool: ...
    async def claimed(self) -> list[str]: ...
    async def read(self, name: str) -> bytes: ...
    async def finish(self, name: str, outcome: str, note: bytes | None = None) -> None: ...
    async def put(self, name: str, data: bytes) -> None: ...
    async def listing(self, folder: str) -> list[str]: ...
    async def close(self) -> None: ...


def _fsync_dir(folder: Path) -> None:
    # A rename is durable only once its directory is on disk.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _move_no_clobber(source: Path, target: Path) -> None:
    """Rename that fails with FileExistsError rather than replace `target` (link, then unlink).

    os.rename would silently replace a file that a racing worker or a re-sent pack put there.
    The link decides: once it is made the move is ours, even if a loser already removed the
    stale source name (see FolderPackStore._claim)."""
    os.link(source, target, follow_symlinks=False)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(source)
    _fsync_dir(target.parent)
    if source.parent != target.parent:
        _fsync_dir(source.parent)


class FolderPackStore:
    """A pack exchange on the local file system (a drop folder, or a mounted share)."""

    channel = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, folder: str, name: str) -> Path:
        return self.root / folder / check_pack_name(name)

    async def prepare(self) -> None:
        """Create the four folders if they are missing."""
        for folder in FOLDERS:
            await asyncio.to_thread((self.root / folder).mkdir, parents=True, exist_ok=True)

    async def ready(self) -> list[str]:
        """Complete packs waiting in incoming/, sorted."""
        return await self.listing("incoming")

    async def claim(self, name: str) -> bool:
        """Move incoming/name to work/; False if another worker took it first."""
        return await asyncio.to_thread(
            self._claim, self._path("incoming", name), self._path("work", name)
        )

    @staticmethod
    def _claim(source: Path, target: Path) -> bool:
        try:
            _move_no_clobber(source, target)
        except FileNotFoundError:
            return False
        except FileExistsError:
            # work/ holds that name: a pack still in progress (retried on a later poll), or this
            # very file, linked by a claim that is between link and unlink or died there. Its
            # work/ copy is the claim, so the incoming/ name goes: nobody claims it twice.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samefile(source, target):
                    os.unlink(source)
            return False
        return True

    async def claimed(self) -> list[str]:
        """Packs left in work/ by a worker that stopped before finishing them, sorted."""
        return await self.listing("work")

    async def read(self, name: str) -> bytes:
        """The bytes of a claimed pack."""
        return await asyncio.to_thread(self._read, self._path("work", name))

    @staticmethod
    def _read(path: Path) -> bytes:
        # O_NOFOLLOW: a symlink swapped in for a pack must not expose another file.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise not_claimed(path.name) from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise not_regular(path.name) from None
            raise
        with os.fdopen(fd, "rb") as file:
            return file.read()

    async def finish(self, name: str, outcome: str, note: bytes | None = None) -> None:
        """Move work/name to processed/ or rejected/, with an optional `.reason.json` note."""
        source = self._path("work", name)
        await asyncio.to_thread(self._finish, source, check_outcome(outcome), note)

    def _finish(self, source: Path, outcome: str, note: bytes | None) -> None:
        folder, attempt = self.root / outcome, 0
        while True:
            target = folder / suffixed(source.name, attempt)
            try:
                _move_no_clobber(source, target)
                break
            except FileExistsError:
                attempt += 1
            except FileNotFoundError:
                raise not_claimed(source.name) from None
        if note is not None:
            temp = folder / f".{target.name}{NOTE_SUFFIX}.part"
            _write_durably(temp, note)
            os.replace(temp, folder / f"{target.name}{NOTE_SUFFIX}")  # the note of this pack only
            _fsync_dir(folder)

    async def put(self, name: str, data: bytes) -> None:
        """Publish a pack in incoming/ as a sender does: write `.name.part`, then rename."""
        await asyncio.to_thread(self._put, self._path("incoming", name), data)

    def _put(self, target: Path, data: bytes) -> None:
        temp = target.with_name(f".{target.name}.part")
        _write_durably(temp, data)
        try:
            _move_no_clobber(temp, target)
        except FileExistsError:
            temp.unlink()
            raise PackExists(
                f"Pack {target.name} is already waiting in incoming/; send it under a new name.",
                field="name",
            ) from None

    async def listing(self, folder: str) -> list[str]:
        """Names of the complete packs (regular files) in one of FOLDERS, sorted."""
        return await asyncio.to_thread(self._listing, self.root / check_folder(folder))

    @staticmethod
    def _listing(folder: Path) -> list[str]:
        with os.scandir(folder) as entries:
            names = [
                e.name for e in entries if is_pack(e.name) and e.is_file(follow_symlinks=False)
            ]
        return sorted(names)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes what it uses."""
