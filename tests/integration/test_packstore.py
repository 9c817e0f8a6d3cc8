"""The file-pack transport against the real thing: a folder on disk, and OpenSSH's sftp server
on loopback. The same contract runs on both stores; SFTP's own failures come last."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from labgate.adapters.channels.packstore import (
    FolderPackStore,
    PackExists,
    PackNotClaimed,
    PackStore,
    TransportUnavailable,
    UnsafePackName,
    check_pack_name,
)
from labgate.adapters.channels.sftp import SftpPackStore, SftpTarget
from labgate.domain.errors import InvalidInput
from labgate.entrypoints.api.http_errors import http_status
from sshd import Sshd, keygen, known_hosts_line

Opener = Callable[[], AbstractAsyncContextManager[PackStore]]
PACK = "SITE1_results_00000042_20261125T060000Z.tar"


def run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(work())


def target(sshd: Sshd, root: Path, **changes: Any) -> SftpTarget:
    """The test sshd as an SFTP target with its exchange at `root`, with `changes` applied."""
    found = SftpTarget(
        sshd.host, sshd.port, sshd.username, str(root), sshd.client_key, sshd.known_hosts
    )
    return replace(found, **changes)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "exchange"


@pytest.fixture(params=["folder", "sftp"])
def opened(request: pytest.FixtureRequest, root: Path) -> Opener:
    """Opens a prepared store on `root`, through the file system or through sshd."""

    @asynccontextmanager
    async def folder() -> AsyncIterator[PackStore]:
        store = FolderPackStore(root)
        await store.prepare()
        yield store
        await store.close()

    @asynccontextmanager
    async def sftp() -> AsyncIterator[PackStore]:
        async with SftpPackStore(target(request.getfixturevalue("sshd"), root)) as store:
            await store.prepare()
            yield store

    return folder if request.param == "folder" else sftp


def test_a_pack_travels_from_put_to_processed(opened: Opener, root: Path) -> None:
    async def main() -> None:
        async with opened() as store:
            await store.put(PACK, b"pack bytes")
            assert await store.ready() == [PACK]
            assert await store.claim(PACK) is True
            assert (await store.ready(), await store.claimed()) == ([], [PACK])
            assert await store.read(PACK) == b"pack bytes"
            await store.finish(PACK, "processed")
            assert await store.listing("processed") == [PACK]
            assert await store.listing("work") == []

    run(main)
    assert (root / "processed" / PACK).read_bytes() == b"pack bytes"
    assert sorted(os.listdir(root / "incoming")) == []  # no .part left behind


def test_part_hidden_and_non_files_are_not_ready(opened: Opener, root: Path) -> None:
    async def main() -> None:
        async with opened() as store:
            incoming = root / "incoming"
            (incoming / f".{PACK}.part").write_bytes(b"half")
            (incoming / f"{PACK}.part").write_bytes(b"half")
            (incoming / ".hidden").write_bytes(b"x")
            (incoming / "folder.tar").mkdir()
            (incoming / "link.tar").symlink_to(root / "elsewhere")
            await store.put("b.tar", b"b")
            await store.put("a.tar", b"a")
            assert await store.ready() == ["a.tar", "b.tar"]

    run(main)


def test_claiming_a_missing_pack_returns_false(opened: Opener) -> None:
    async def main() -> None:
        async with opened() as store:
            assert await store.claim(PACK) is False

    run(main)


def test_of_two_workers_claiming_the_same_packs_exactly_one_wins_each(opened: Opener) -> None:
    names = [f"pack-{n:02}.tar" for n in range(20)]

    async def main() -> None:
        async with opened() as first, opened() as second:
            for name in names:
                await first.put(name, name.encode())
            wins = await asyncio.gather(
                *(store.claim(name) for name in names for store in (first, second))
            )
            assert [wins[i] + wins[i + 1] for i in range(0, len(wins), 2)] == [1] * len(names)
            assert await first.claimed() == names
            assert await first.ready() == []

    run(main)


def test_finish_with_a_note_writes_its_reason_json(opened: Opener, root: Path) -> None:
    note = b'{"reason": "pack.signature_invalid"}'

    async def main() -> None:
        async with opened() as store:
            await store.put(PACK, b"bad")
            await store.claim(PACK)
            await store.finish(PACK, "rejected", note)
            assert await store.listing("rejected") == [PACK, f"{PACK}.reason.json"]

    run(main)
    assert (root / "rejected" / f"{PACK}.reason.json").read_bytes() == note
    assert sorted(os.listdir(root / "rejected")) == [PACK, f"{PACK}.reason.json"]


def test_a_pack_finished_twice_under_one_name_keeps_both(opened: Opener, root: Path) -> None:
    async def main() -> None:
        async with opened() as store:
            for n in range(3):
                await store.put(PACK, f"copy {n}".encode())
                assert await store.claim(PACK) is True
                await store.finish(PACK, "processed", f'{{"n": {n}}}'.encode())

    run(main)
    processed = root / "processed"
    assert [(processed / name).read_bytes() for name in (PACK, f"{PACK}.1", f"{PACK}.2")] == [
        b"copy 0",
        b"copy 1",
        b"copy 2",
    ]
    assert (processed / f"{PACK}.2.reason.json").read_bytes() == b'{"n": 2}'


def test_claimed_lists_the_packs_a_stopped_worker_left_in_work(opened: Opener) -> None:
    async def main() -> None:
        async with opened() as crashed:
            for name in ("b.tar", "a.tar", "c.tar"):
                await crashed.put(name, b"x")
            assert await crashed.claim("b.tar") and await crashed.claim("a.tar")
        async with opened() as restarted:
            assert await restarted.claimed() == ["a.tar", "b.tar"]
            assert await restarted.ready() == ["c.tar"]

    run(main)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", ".hidden", "a\\b", "a\0b", "é" * 128])
def test_unsafe_names_are_refused_before_any_file_is_touched(opened: Opener, name: str) -> None:
    async def main() -> None:
        async with opened() as store:
            calls = (
                store.claim(name),
                store.read(name),
                store.finish(name, "processed"),
                store.put(name, b"x"),
            )
            for call in calls:
                with pytest.raises(UnsafePackName) as refused:
                    await call
                error = refused.value
                assert (error.reason, http_status(error)) == ("pack.path_traversal", 422)
                assert refused.value.field == "name"

    run(main)


def test_a_plain_pack_name_passes_the_check() -> None:
    assert check_pack_name(PACK + ".pgp") == PACK + ".pgp"


def test_a_sender_cannot_overwrite_a_pack_still_waiting(opened: Opener, root: Path) -> None:
    async def main() -> None:
        async with opened() as store:
            await store.put(PACK, b"first")
            with pytest.raises(PackExists):
                await store.put(PACK, b"second")

    run(main)
    assert (root / "incoming" / PACK).read_bytes() == b"first"
    assert os.listdir(root / "incoming") == [PACK]


def test_reading_or_finishing_an_unclaimed_pack_is_refused(opened: Opener) -> None:
    async def main() -> None:
        async with opened() as store:
            await store.put(PACK, b"x")
            with pytest.raises(PackNotClaimed):
                await store.read(PACK)
            with pytest.raises(PackNotClaimed):
                await store.finish(PACK, "processed")
            with pytest.raises(InvalidInput):
                await store.listing("elsewhere")

    run(main)


def test_a_symlink_in_work_is_not_followed(opened: Opener, root: Path) -> None:
    secret = root / "secret"

    async def main() -> None:
        async with opened() as store:
            secret.write_bytes(b"not a pack")
            (root / "work" / PACK).symlink_to(secret)
            with pytest.raises(UnsafePackName):
                await store.read(PACK)

    run(main)


def expect_unavailable(sftp_target: SftpTarget) -> TransportUnavailable:
    async def main() -> None:
        async with SftpPackStore(sftp_target):
            pass

    with pytest.raises(TransportUnavailable) as refused:
        run(main)
    error = refused.value
    assert (http_status(error), error.reason) == (503, "pack.transport_unavailable")
    assert f"{sftp_target.host}:{sftp_target.port}" in error.message
    return error


def test_sftp_with_a_wrong_client_key_is_unavailable(sshd: Sshd, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    expect_unavailable(target(sshd, tmp_path, client_key=stranger))


def test_sftp_refuses_a_server_whose_host_key_is_not_the_known_one(
    sshd: Sshd, tmp_path: Path
) -> None:
    impostor = tmp_path / "known_hosts"
    impostor.write_text(known_hosts_line(sshd.port, keygen(tmp_path / "other_host")))
    error = expect_unavailable(target(sshd, tmp_path, known_hosts=impostor))
    assert "host key" in error.message.lower()


def test_sftp_with_nobody_listening_is_unavailable(sshd: Sshd, tmp_path: Path) -> None:
    expect_unavailable(target(sshd, tmp_path, port=1, connect_timeout=2.0))


def test_sftp_without_known_hosts_is_refused_unless_allowed(sshd: Sshd, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        target(sshd, tmp_path, known_hosts=None)
    assert refused.value.reason == "pack.host_key_unchecked"

    async def main() -> None:
        unchecked = target(sshd, tmp_path, known_hosts=None, allow_unknown_host=True)
        async with SftpPackStore(unchecked) as store:
            await store.prepare()
            assert await store.ready() == []

    run(main)


def test_an_sftp_store_must_be_opened_before_use(sshd: Sshd, tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(TransportUnavailable, match="open"):
            await SftpPackStore(target(sshd, tmp_path)).ready()

    run(main)


def test_an_sftp_session_that_drops_is_unavailable(sshd: Sshd, tmp_path: Path) -> None:
    async def main() -> None:
        async with SftpPackStore(target(sshd, tmp_path)) as store:
            store.sftp.exit()  # the session ends under the store, as when the link drops
            with pytest.raises(TransportUnavailable) as refused:
                await store.ready()
            assert f"on {sshd.host}:{sshd.port} failed" in refused.value.message

    run(main)
