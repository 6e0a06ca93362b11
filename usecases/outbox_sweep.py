"""Finishing what a server died before finishing. A graph commit — a batch, a detach — writes what
is left to do after it (usecases/after_commit.py: persons to refold after a split, what the change
feed must be told) as an outbox entry in its own transaction, and deletes the entry once done. An
entry older than a grace period belongs to a server that died (or whose next store failed, and
whose caller never retried) between the graph's commit and the rest: the sweep does the rest,
then deletes it. A person merged since is taken as its survivor; one erased since is skipped.

At least once: a server that died after the work but before the delete, or two servers sweeping
the same entry, do it twice. Refolding is idempotent; the feed is at-least-once anyway."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec

from changes.log import ChangeLog
from identity.ports import IdentityGraph
from usecases.after_commit import decode_after_commit
from usecases.splits import Splits

log = logging.getLogger(__name__)
OUTBOX_PAGE = 100
"""Entries per graph read of a sweep."""


class OutboxSweep:
    def __init__(
        self,
        *,
        graph: IdentityGraph,
        splits: Splits,
        changes: ChangeLog | None,
        grace_seconds: float,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._graph = graph
        self._splits = splits
        self._changes = changes
        self._grace_us = int(grace_seconds * 1e6)
        self._clock = clock

    def __call__(self, budget: int = 10_000) -> int:
        """Finishes and deletes up to `budget` entries older than the grace period; returns how many."""
        before, done = self._clock() - self._grace_us, 0
        while done < budget:
            entries = self._graph.outbox(before, min(OUTBOX_PAGE, budget - done))
            if not entries:
                break
            for entry in entries:
                try:
                    work = decode_after_commit(entry.body)
                except msgspec.DecodeError:  # not ours to read (a newer server's format): leave it
                    log.warning("outbox: an entry this server cannot read is left for one that can")
                    return done
                tell = work.tell
                named = set(work.refold)
                if tell is not None:
                    named |= {e.person_id for e in tell.edges} | {*tell.persons, *tell.exist, *tell.stale}
                live = self._graph.live_persons(named)
                if work.refold:
                    self._splits.refold_held_off(sorted({live[p] for p in work.refold if p in live}))
                if tell is not None and self._changes is not None:
                    self._changes.tell(tell, live=live)
                self._graph.outbox_done([entry.id])
                done += 1
        return done
