"""What every message reads and almost nothing changes — source keys, status map, unit
dictionary, aliases, and the system accounts that send them by API key — kept per process with
the version it was read at. The store keeps one version per kind and moves it with every change,
in the change's own transaction; a reader checks the versions with one SELECT in its own
transaction and reads a kind again only when its version moved. A message verified with keys
that have moved since is checked again."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from labgate.compliance.access import Account
from labgate.compliance.keys import SourceKey
from labgate.domain.change_control import StatusMapSchedule
from labgate.domain.channel_allow_list import AllowListSchedule
from labgate.domain.masterdata import Alias

T = TypeVar("T")

KINDS = ("source_keys", "status_map", "units", "aliases", "accounts", "channel_allow_list")

KeyTable = Mapping[tuple[str, str], SourceKey]  # (source, kid) -> key
UnitTable = Mapping[str, tuple[str, str]]  # code -> (converter expression, quantity kind)
AliasTable = Mapping[str, tuple[Alias, ...]]  # site -> its aliases


@dataclass(frozen=True)
class AccountTable:
    """Every account as last read: by username, and the system accounts by API key hash. The
    copies are shared: whoever reads one never changes it."""

    by_username: Mapping[str, Account]
    by_api_key: Mapping[str, Account]


class KeysChanged(Exception):
    """The source keys changed after a message's signature was checked with them. Not a
    refusal: its transaction is undone and the inbox checks the message again with the keys
    now in force (a revoked key is refused then, its number left free)."""


class Cached(Generic[T]):
    """One kind of configuration as last read, with the version it was read at."""

    def __init__(self) -> None:
        self._entry: tuple[int, T] | None = None
        self._lock = threading.Lock()

    def at(self, version: int, load: Callable[[], T]) -> T:
        """The value at `version`: the one kept if it was read at that version, else loaded
        (by the caller's transaction, after it read the version) and kept unless newer is."""
        entry = self._entry
        if entry is not None and entry[0] == version:
            return entry[1]
        value = load()
        with self._lock:  # versions only grow: a slow reader never puts an older value back
            if self._entry is None or self._entry[0] < version:
                self._entry = (version, value)
        return value

    def last(self) -> tuple[int, T] | None:
        """The value last kept and its version, unchecked (None before the first read)."""
        return self._entry


@dataclass
class ConfigCache:
    """A process's cached configuration: one per database the process opens."""

    source_keys: Cached[KeyTable] = field(default_factory=Cached)
    status_map: Cached[StatusMapSchedule] = field(default_factory=Cached)
    units: Cached[UnitTable] = field(default_factory=Cached)
    aliases: Cached[AliasTable] = field(default_factory=Cached)
    accounts: Cached[AccountTable] = field(default_factory=Cached)
    channel_allow_list: Cached[AllowListSchedule] = field(default_factory=Cached)


class ApiKeyAccounts(Protocol):
    """The system accounts that send with API keys."""

    def by_api_key(self, key_hash: str) -> Account | None:
        """The account holding the key with this hash, as it is now (None: no such key)."""
        ...

    def known(self, key_hash: str) -> tuple[Account, int] | None:
        """The account holding the key as last read (the cache's own: never changed by the
        caller), and the version it was read at: no I/O, so the caller must compare that
        version with `version()` before it relies on it (None: nothing read yet, or no such
        key then)."""
        ...

    def version(self) -> int:
        """The accounts' version now: one read."""
        ...


class KeyRing(Protocol):
    """The source keys a signature is checked with."""

    def find(
        self, source: str, kid: str, fresh: bool = False
    ) -> tuple[SourceKey | None, int | None]:
        """The key (None if unknown) and the version of the keys it was found in (None: read
        in no version). Known in the cache: no I/O, unless `fresh`; the message's transaction
        then makes sure the version still holds."""
        ...
