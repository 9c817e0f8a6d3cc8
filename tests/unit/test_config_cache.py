"""The per-process configuration cache: a kind is read again when its version moved, never
otherwise, and a slow reader never puts an older value back."""

from __future__ import annotations

from labgate.service.config_cache import Cached


class Loads:
    """A loader that counts its calls and answers with their number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_a_kind_is_loaded_once_per_version() -> None:
    cached: Cached[int] = Cached()
    load = Loads()
    assert cached.last() is None
    assert [cached.at(0, load), cached.at(0, load), cached.at(0, load)] == [1, 1, 1]
    assert load.calls == 1
    assert cached.at(1, load) == 2  # the version moved: loaded again
    assert cached.at(1, load) == 2
    assert (load.calls, cached.last()) == (2, (1, 2))


def test_an_older_version_is_loaded_for_its_reader_but_not_kept() -> None:
    cached: Cached[str] = Cached()
    cached.at(5, lambda: "five")
    # A transaction that read version 4 before the change committed gets what it loaded ...
    assert cached.at(4, lambda: "four") == "four"
    # ... and the newer value stays kept for everyone else.
    assert cached.last() == (5, "five")
    assert cached.at(5, lambda: "reloaded") == "five"
