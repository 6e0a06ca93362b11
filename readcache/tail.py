"""Keeps a read cache true to other servers' writes: it reads the shared change feed as it grows
and drops every person a change names (changes.model.named_by — a merge names its losers, a
split its new parts; `invalidated` names persons no public change does).

The cache answers only while the feed has been read in full recently (ReadCache.max_lag): a
server whose feed reads fail, or fall behind, goes to the stores for everything until it has
caught up. So a write another server told at time T is out of every answering cache by about
T + the feed's settle time + max_lag; `propagation_seconds` is that bound, which a detach or an
erasure waits out before it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from changes.model import CursorExpired, named_by
from changes.ports import ChangeFeed
from readcache.cache import ReadCache

log = logging.getLogger(__name__)
PAGE = 1000
POLL_SECONDS = 0.1
CLOCK_SKEW_SECONDS = 0.2
"""Allowed between the servers' clocks (the feed orders changes by the writer's clock)."""


def propagation_seconds(*, settle_seconds: float, max_lag_seconds: float) -> float:
    return settle_seconds + max_lag_seconds + CLOCK_SKEW_SECONDS


class CacheTail:
    def __init__(
        self,
        feed: ChangeFeed,
        cache: ReadCache,
        *,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feed = feed
        self._cache = cache
        self._poll = poll_seconds
        self._clock = clock
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Reads the feed to its end and drops the persons its changes name; returns how many
        changes it read."""
        began = self._clock()
        if self._cursor is None:  # from now: the cache holds nothing older than this yet
            self._cache.clear()
            self._cursor = self._feed.read(None, 0)[1]
        read = 0
        while True:
            try:
                changes, self._cursor = self._feed.read(self._cursor, PAGE)
            except CursorExpired:  # behind by more than the retention: nothing cached is known good
                self._cursor = None
                return self.poll()
            read += len(changes)
            if changes:
                self._cache.invalidate({p for c in changes for p in named_by(c)})
            if len(changes) < PAGE:
                break
        self._cache.heard(began)
        return read

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="idstitch-cache-tail", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.poll()
                if failing:
                    log.info("read cache: the change feed is read again; the cache answers again")
                failing = False
            except Exception as e:  # the cache stops answering by itself (max_lag); keep trying
                if not failing:
                    log.warning(
                        "read cache: reading the change feed failed (%s); reads go to the stores",
                        e.__class__.__name__,
                    )
                failing = True
            self._stop.wait(self._poll)
