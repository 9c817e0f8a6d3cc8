"""PostgreSQL's side of waking the relay across processes: a thread that LISTENs on the outbox
channel on a connection of its own and rings the relay's bell on every notification (the
transaction that writes outbox rows NOTIFYs at its commit: uow.py).

A lost connection never stops the relay: the listener logs it, the relay's poll carries on, and
the listener connects again after a pause (doubled after each failure, at most `max_retry`);
once listening again it rings once, so what was committed meanwhile goes out at once. TCP
keepalives make a connection that died silently (a cable, a firewall) show as lost too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

import psycopg
from sqlalchemy.engine import make_url

from labgate.adapters.store.uow import OUTBOX_CHANNEL
from labgate.service.outbox.relay_bell import Bell

log = logging.getLogger("labgate.relay")

APPLICATION_NAME = "labgate-relay-listen"  # how the connection shows in pg_stat_activity


def libpq_url(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (postgresql+psycopg://… → postgresql://…)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class OutboxListener:
    """LISTENs for committed outbox rows meant for `destinations` and rings `bell`."""

    def __init__(
        self,
        database_url: str,
        bell: Bell,
        destinations: Collection[str],
        retry: float = 1.0,
        max_retry: float = 30.0,
    ) -> None:
        self.url, self.bell, self.destinations = libpq_url(database_url), bell, set(destinations)
        self.retry, self.max_retry, self._pause = retry, max_retry, retry
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)

    def start(self) -> OutboxListener:
        """Listen in a thread of its own."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (within a second) and close the connection."""
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
                return  # stopped
            except psycopg.Error as error:
                log.warning(
                    "LISTEN %s: connection lost or refused (%s); the relay polls meanwhile, "
                    "reconnecting in %g s", OUTBOX_CHANNEL, str(error).strip(), self._pause,
                )  # fmt: skip
            except Exception:  # a bug here must not silence the bell for good: logged, retried
                log.exception("LISTEN %s failed; reconnecting in %g s", OUTBOX_CHANNEL, self._pause)
            self._stopping.wait(self._pause)
            self._pause = min(2 * self._pause, self.max_retry)

    def _listen(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name=APPLICATION_NAME,
                             keepalives=1, keepalives_idle=10, keepalives_interval=5,
                             keepalives_count=3) as connection:  # fmt: skip
            connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
            log.info("listening on %s: the relay is woken by commits", OUTBOX_CHANNEL)
            self._pause = self.retry
            self.bell.ring()  # rows committed while nobody listened go out now
            while not self._stopping.is_set():
                # Returns after a second without a notification, to see whether to stop.
                for notice in connection.notifies(timeout=1.0):
                    if notice.payload in self.destinations:
                        self.bell.ring()
