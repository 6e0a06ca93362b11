"""Splits: an identifier leaves a person, and the person's events follow their identifiers.

Three things split a person: an admin's detach (a wrong stitch undone), a batch withdrawing a
weak link that stronger evidence contradicted (usecases/ingest.py), and an erasure scrubbing
another person's events (usecases/privacy_requests.py). Each ends the same way here: every event
of the persons involved goes to whoever holds its highest-priority identifier now, and each of
them is refolded. A split holds batches off while it refolds (usecases/split_gate.py); with a
profile store shared by several servers it runs again once batches in flight elsewhere have
landed (`after_settling`).

Detach, top to bottom (`detach`): the identity side names the key and the new person; one graph
transaction detaches it and writes the outbox entry of what is left (the refold, the feed), so a
server that dies after the commit leaves it to the outbox sweep; the refold; the feed is told;
the entry goes; the audit log records it; the call returns once every server reads the split.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from changes.log import ChangeLog
from identity.identifiers import type_of
from identity.model import OutboxEntry
from identity.ports import IdentityGraph
from identity.service import IdentityService
from privacy.records import PrivacyRecords
from profiles.fold import Folder
from profiles.ports import LoggedEvent, ProfileStore
from usecases.after_commit import AfterCommit, outbox_entry
from usecases.split_gate import SplitGate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Detached:
    person_id: str
    new_person_id: str | None
    person_events: int
    new_person_events: int


class Splits:
    def __init__(
        self,
        *,
        identity: IdentityService,
        graph: IdentityGraph,
        store: ProfileStore,
        folder: Folder,
        gate: SplitGate,
        records: PrivacyRecords | None,
        changes: ChangeLog | None,
        settle_seconds: float = 0.0,
        propagation_seconds: float = 0.0,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        """`settle_seconds`: with a profile store shared by several servers, how long after a split
        (or an erasure) to sweep again (`after_settling`). `propagation_seconds`: how long until a
        write of this server shows in every server's reads (their read caches hear of it through
        the change feed); 0: at once."""
        self._identity = identity
        self._graph = graph
        self._store = store
        self._folder = folder
        self.gate = gate
        self._records = records
        self._changes = changes
        self.settle_seconds = settle_seconds
        self.propagation_seconds = propagation_seconds
        self._clock = clock

    def detach(self, type_name: str, value: str, *, to_new_person: bool, caller: str = "") -> Detached:
        """An admin's correction of a wrong stitch: the identifier leaves its person, into a new
        person of its own or (to_new_person=False) as a shared identifier that never links again,
        and both parts are refolded so the detached part's events leave the person's profile."""
        key, new = self._identity.detach_target(
            type_name, value, to_new_person=to_new_person, now=self._clock()
        )
        entry_id = uuid.uuid4().hex
        changes = self._changes

        def unfinished(left: str) -> OutboxEntry:  # what is left to do if this server dies here
            tell = changes.pending_split(left, [new] if new else []) if changes is not None else None
            return outbox_entry(AfterCommit([left, new] if new else [left], tell), entry_id)

        with self.gate.split():
            left = self._graph.detach(key, new_person_id=new, outbox=unfinished)
            if left is None:
                raise self._identity.not_detached(key)
            parts = [left] if new is None else [left, new]
            counts = self.refold(parts)
        self.after_settling("split", lambda: self._refold_and_tell(parts))
        if changes is not None:
            changes.tell(changes.pending_split(left, parts[1:]))
        self._graph.outbox_done([entry_id])
        done = Detached(left, new, counts.get(left, 0), counts.get(new, 0) if new else 0)
        if self._records is not None:
            detail = {"mode": "new_person" if new else "shared", "person_events": done.person_events,
                      "new_person_events": done.new_person_events}  # fmt: skip
            self._records.audit(self._clock(), caller, "detach_identifier", detail)
        self.propagated()
        return done

    def refold(self, person_ids: Sequence[str]) -> dict[str, int]:
        """Gives each event of these persons to its owner (`owner_rule`) and refolds every person
        involved; the caller holds the split gate. Returns events per person after."""
        return self._store.reattribute(person_ids=person_ids, owner=self.owner_rule(), folding=self._folder)

    def refold_held_off(self, person_ids: Sequence[str]) -> dict[str, int]:
        """`refold`, holding this server's batches off while it runs."""
        with self.gate.split():
            return self.refold(person_ids)

    def owner_rule(self) -> Callable[[LoggedEvent], str | None]:
        """Who an event belongs to now: the person holding its highest-priority identifier (the
        rule that picked its person at ingest), else the person it has."""
        types = self._identity.types
        cache: dict[str, str | None] = {}

        def holder(key: str) -> str | None:
            if key not in cache:
                found = self._graph.resolve(key)
                cache[key] = found if isinstance(found, str) else None
            return cache[key]

        def owner(e: LoggedEvent) -> str | None:
            ranked = sorted(e.keys, key=lambda k: -types[t].priority if (t := type_of(k)) in types else 0)
            for k in ranked:
                pid = holder(k)
                if pid is not None:
                    return pid
            return e.person_id

        return owner

    def propagated(self) -> None:
        """Returns once every server answers reads as of now (their read caches have heard of this
        server's writes): a detach or an erasure returns only then, so that no server answers
        for the old person afterwards."""
        if self.propagation_seconds > 0:
            time.sleep(self.propagation_seconds)

    def after_settling(self, what: str, sweep: Callable[[], object]) -> None:
        """Runs `sweep` again once batches in flight on other servers have landed. The gate keeps
        this server's batches out of a split, but another server may have stitched a batch before
        the split and append it to the profile store after the split moved the events: that batch
        lands in the old person. Splits and erasures are idempotent, so running them again once
        `settle_seconds` have passed (longer than a batch takes) moves such stragglers too. A server
        that stops within that time skips the sweep; the split or erasure itself is complete."""
        if self.settle_seconds <= 0:
            return

        def run() -> None:
            try:
                with self.gate.split():
                    sweep()
            except Exception as e:
                log.warning("the settle sweep after a %s failed: %s", what, e.__class__.__name__)

        timer = threading.Timer(self.settle_seconds, run)
        timer.daemon = True
        timer.start()

    def _refold_and_tell(self, person_ids: Sequence[str]) -> None:
        """A split's settle sweep: what it moves is a change other servers must hear of."""
        moved = self.refold(person_ids)
        if self._changes is not None:
            self._changes.touched(moved)
