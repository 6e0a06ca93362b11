"""Person partitions: their heads (the static columns: profile, version, merge bookkeeping), the
live person an id leads to, conditional writes against a head's version, and a person's events
wherever their rows are (its own partition and the absorbed ones)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cassandra.query import BatchStatement, BatchType

from common.errors import StoreUnavailable
from drivers.cassandra import CassandraConnection
from profiles.events import decode_facts, encode_facts
from profiles.ports import Folding, LoggedEvent
from profiles.state import ProfileState, decode_state
from profiles.stores.cassandra.schema import Statements

HEADS_PER_READ = 100
"""Partitions per multi-partition head read."""
MAX_CHAIN = 1000
"""Merged-into hops followed before a chain is declared broken (a chain is never this long)."""


@dataclass(frozen=True, slots=True)
class Head:
    """The static part of a person partition."""

    person_id: str
    version: int | None = None
    state: bytes | None = None
    merged_into: str | None = None
    pending: frozenset[str] = frozenset()
    absorbed: frozenset[str] = frozenset()

    def decoded(self) -> ProfileState | None:
        return None if self.state is None else decode_state(self.state)

    @property
    def scope(self) -> set[str]:
        """The partitions holding this person's event rows."""
        return {self.person_id} | set(self.absorbed)


class PendingMerges(Protocol):
    def complete(self, survivor: str, loser: str, folding: Folding) -> None: ...


class Partitions:
    def __init__(self, conn: CassandraConnection, st: Statements, *, namespace: str, ttl: int) -> None:
        self.conn = conn
        self.st = st
        self.ns = namespace
        self.ttl = ttl
        self.merges: PendingMerges | None = None
        """Finishes a merge a failed writer left pending (set by the store: merges.Merges)."""

    def heads(self, person_ids: Collection[str]) -> dict[str, Head]:
        """Heads of many partitions in few requests (IN lists of HEADS_PER_READ): a batch's
        persons cost the driver a handful of requests rather than one each."""
        ids = list(dict.fromkeys(person_ids))
        if len(ids) == 1:  # the page-render path: one single-partition read, routed by token
            statements: list[tuple[Any, tuple[Any, ...]]] = [(self.st.head, (self.ns, ids[0]))]
        else:
            statements = [
                (self.st.heads, (self.ns, ids[i : i + HEADS_PER_READ]))
                for i in range(0, len(ids), HEADS_PER_READ)
            ]
        heads = {pid: Head(pid) for pid in ids}
        for rs in self.conn.run_all(statements):
            for _, pid, version, state, merged_into, pending, absorbed in rs:
                heads[pid] = Head(
                    pid, version, state, merged_into, frozenset(pending or ()), frozenset(absorbed or ())
                )
        return heads

    def head(self, person_id: str) -> Head:
        return self.heads([person_id])[person_id]

    def live(self, person_id: str, folding: Folding | None = None) -> Head:
        """The head of the live person `person_id` names (itself, or where its merges led). With
        `folding`, merges left pending by a failed writer are finished first."""
        return self.live_from(self.head(person_id), folding)

    def live_from(self, head: Head, folding: Folding | None) -> Head:
        for _ in range(MAX_CHAIN):
            if head.merged_into is not None:
                head = self.head(head.merged_into)
            elif head.pending and folding is not None and self.merges is not None:
                for loser in sorted(head.pending):
                    self.merges.complete(head.person_id, loser, folding)
                head = self.head(head.person_id)
            else:
                return head
        raise StoreUnavailable("cassandra: a merge chain does not end")

    def cas(self, stmt: Any, params: Sequence[Any]) -> bool:
        """Runs one conditional statement; True when it applied."""
        return bool(self.conn.session.execute(stmt, params).was_applied)

    def next(self, head: Head) -> tuple[int, str, str, int | None]:
        """The bound tail of a conditional static update: new version, partition, expected version."""
        return ((head.version or 0) + 1, self.ns, head.person_id, head.version)

    def row(self, person_id: str, e: LoggedEvent, *, new: bool = False) -> tuple[Any, tuple[Any, ...]]:
        """The statement that writes an event's row; `new`: only if the partition has none (the
        condition of a fold's batch)."""
        f = e.facts
        return self.st.fold_row if new else self.st.insert_row, (
            self.ns,
            person_id,
            f.event_id,
            f.occurred_at,
            list(e.keys),
            encode_facts(f),
            self.ttl,
        )

    def run_batches(self, batches: dict[str, list[tuple[Any, Any]]]) -> dict[str, bool]:
        """One conditional batch per partition, all at once; which of them applied."""
        futures = {}
        for pid, stmts in batches.items():
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for stmt, params in stmts:
                batch.add(stmt, params)
            futures[pid] = self.conn.session.execute_async(batch)
        return {pid: bool(f.result().was_applied) for pid, f in futures.items()}

    def located_events(self, heads: Collection[Head]) -> list[tuple[str, LoggedEvent]]:
        """Each event of these persons with the partition its row is in."""
        owner_of = {part: h.person_id for h in heads for part in h.scope}
        if not owner_of:
            return []
        rows = self.conn.session.execute(self.st.rows, (self.ns, list(owner_of)))
        return [
            (part, LoggedEvent(owner_of[part], tuple(keys or ()), decode_facts(facts)))
            for part, event_id, _, keys, facts in rows
            if event_id is not None
        ]
