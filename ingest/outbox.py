"""Telling what a server died before telling. A batch writes what the change feed must hear of it
(its merges and orders, the persons it touched) in its own graph transaction, and deletes the
entry once told (ingest/stitch_and_fold.py). An entry older than a grace period belongs to a
batch whose server died — or whose profile commit failed and was never retried — between the
graph's commit and the telling: the sweep tells it, then deletes it.

At least once: a server that died after telling but before deleting, or two servers sweeping the
same entry, tell it twice; a consumer already handles repeats (the feed is at-least-once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec

from changes.model import decode_pending
from identity.ports import IdentityGraph
from profiles.change_log import ChangeLog

log = logging.getLogger(__name__)
OUTBOX_PAGE = 100
"""Entries per graph read of a sweep."""


class OutboxSweep:
    def __init__(
        self,
        *,
        graph: IdentityGraph,
        changes: ChangeLog,
        grace_seconds: float,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._graph = graph
        self._changes = changes
        self._grace_us = int(grace_seconds * 1e6)
        self._clock = clock

    def __call__(self, budget: int = 10_000) -> int:
        """Tells and deletes up to `budget` entries older than the grace period; returns how many."""
        before, done = self._clock() - self._grace_us, 0
        while done < budget:
            entries = self._graph.outbox(before, min(OUTBOX_PAGE, budget - done))
            if not entries:
                break
            for entry in entries:
                try:
                    pending = decode_pending(entry.body)
                except msgspec.DecodeError:  # not ours to read (a newer server's format): leave it
                    log.warning("change feed outbox: an entry this server cannot read is left in place")
                    return done
                named = {e.person_id for e in pending.edges} | set(pending.persons)
                self._changes.tell(pending, live=self._graph.live_persons(named))
                self._graph.outbox_done([entry.id])
                done += 1
        return done
