"""The ProfileStore port on Cassandra: appends (claims, then one conditional batch per person
partition), erasure and reads, over the partitions, the merge protocol and splits."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from common.errors import StoreUnavailable
from drivers.cassandra import (
    CassandraConnection,
    CassandraEndpoint,
    column,
    translates_driver_errors,
)
from profiles.events import decode_facts, encode_facts
from profiles.ports import Appended, Folding, LoggedEvent, Prefold, Written
from profiles.scrub import scrubbed
from profiles.state import ProfileState, encode_state
from profiles.stores.cassandra import schema
from profiles.stores.cassandra.merges import MAX_ROUNDS, Merges, final
from profiles.stores.cassandra.partitions import Head, Partitions
from profiles.stores.cassandra.splits import Splits


@translates_driver_errors
class CassandraProfileStore:
    def __init__(
        self,
        endpoint: CassandraEndpoint,
        *,
        keyspace: str = "idstitch",
        replication: Mapping[str, str | int] | None = None,
        namespace: str = "main",
        event_ttl_seconds: int | None = None,
    ) -> None:
        conn = CassandraConnection.for_store(
            endpoint, keyspace=keyspace, replication=replication, namespace=namespace, tables=schema.TABLES
        )
        self._p = Partitions(
            conn, schema.prepare(conn, keyspace), namespace=namespace, ttl=event_ttl_seconds or 0
        )
        self._merges = Merges(self._p)
        self._p.merges = self._merges
        self._splits = Splits(self._p)

    # -- writes ------------------------------------------------------------------------------

    def append(
        self,
        *,
        events: Sequence[LoggedEvent],
        merges: Mapping[str, str],
        folding: Folding,
        prefolded: Mapping[str, Prefold] | None = None,
    ) -> Appended:
        """The events of `prefolded` are new to the graph, which commits before this append: no
        earlier append recorded them, so their claims are written without a lightweight
        transaction, and the prefold is merged into the stored profile instead of folding them
        again. Every other event (a retry's) is claimed `IF NOT EXISTS`. Either way the event rows
        go into their partition's conditional batch `IF NOT EXISTS`, so an event already there is
        never folded twice (the package docstring says why)."""
        self._merges.merge_all(merges, folding)
        to = final(merges)
        first: dict[str, LoggedEvent] = {}
        for e in events:
            if e.person_id in to:  # an event of a person this batch merged away: to the survivor
                e = LoggedEvent(to[e.person_id], e.keys, e.facts)
            first.setdefault(e.facts.event_id, e)
        named = {e.person_id for e in first.values() if e.person_id is not None}
        heads = self._p.heads(named)
        live = {p: self._p.live_from(h, folding) for p, h in heads.items()}
        graph_new = {eid for pre in (prefolded or {}).values() for eid in pre.event_ids}
        st, ns, ttl = self._p.st, self._p.ns, self._p.ttl
        owner = {eid: e.person_id and live[e.person_id].person_id for eid, e in first.items()}
        plain = [eid for eid in first if eid in graph_new]
        self._p.conn.run_unlogged([(st.record_claim, (ns, eid, owner[eid], ttl)) for eid in plain])
        contested = [eid for eid in first if eid not in graph_new]
        results = self._p.conn.run_all([(st.claim, (ns, eid, owner[eid], ttl)) for eid in contested])
        claimed_before = dict(zip(contested, results, strict=True))
        claims = [claimed_before.get(eid) for eid in first]
        claimed: dict[str, list[LoggedEvent]] = defaultdict(list)  # fresh claims: nothing folded them yet
        unsure: dict[str, list[LoggedEvent]] = defaultdict(list)  # claimed before: fold if missing
        new: set[str] = set()
        for (eid, e), rs in zip(first.items(), claims, strict=True):
            if rs is None or rs.was_applied:  # None: claimed by a plain write
                if e.person_id is None:
                    new.add(eid)  # recorded for no one
                else:
                    claimed[live[e.person_id].person_id].append(e)
            elif (holder := column(rs, rs.one(), "person_id")) is not None:
                unsure[holder].append(e)
        known = {h.person_id: h for h in live.values()}
        pre = {}
        for p, x in (prefolded or {}).items():
            q = to.get(p, p)
            pre[live[q].person_id if q in live else q] = x
        folded = self._fold(claimed, unsure, known, folding, pre)
        return Appended(new | folded.new, folded.written)

    def _fold(
        self,
        claimed: dict[str, list[LoggedEvent]],
        unsure: dict[str, list[LoggedEvent]],
        known: dict[str, Head],
        folding: Folding,
        prefolded: Mapping[str, Prefold],
    ) -> Appended:
        """Folds each partition's events into it, one conditional batch per partition, all
        partitions at once; partitions that lost a race are read again and retried."""
        new: set[str] = set()
        written: dict[str, Written] = {}
        for attempt in range(MAX_ROUNDS):
            todo = {p: claimed.get(p, []) + unsure.get(p, []) for p in set(claimed) | set(unsure)}
            if not todo:
                return Appended(new, written)
            if attempt:
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
            missing = [p for p in todo if p not in known]
            known.update(self._p.heads(missing))
            checks = {p: [e.facts.event_id for e in unsure[p]] for p in unsure}
            present = dict(
                zip(
                    checks,
                    self._p.conn.run_all(
                        [(self._p.st.present, (self._p.ns, p, ids)) for p, ids in checks.items()]
                    ),
                    strict=True,
                )
            )
            batches: dict[str, tuple[list[tuple[Any, Any]], list[str], Written]] = {}
            redirected: dict[str, list[LoggedEvent]] = defaultdict(list)
            for pid, evs in todo.items():
                head = known[pid]
                held = {r[0] for r in present[pid]} if pid in present else set()
                fresh = [e for e in evs if e.facts.event_id not in held]
                if not fresh:
                    continue
                if head.merged_into is not None:
                    for target, moved in self._merges.redirect(pid, fresh, folding).items():
                        redirected[target].extend(moved)
                    continue
                if head.pending:
                    self._p.live_from(head, folding)
                    redirected[pid].extend(fresh)
                    continue
                stored, done = head.decoded(), prefolded.get(pid)
                if done is not None and done.event_ids == {e.facts.event_id for e in fresh}:
                    state = done.into(stored, [e.facts for e in fresh], folding)
                else:  # a retry, or no prefold: fold what is new
                    state = folding.fold(stored or ProfileState(), (e.facts for e in fresh))
                stmts = [self._p.row(pid, e, new=True) for e in fresh]
                put = Written(state, encode_state(state))
                stmts.append((self._p.st.set_state, (put.stored, *self._p.next(head))))
                batches[pid] = (stmts, [e.facts.event_id for e in fresh], put)
            applied = self._p.run_batches({p: s for p, (s, _, _) in batches.items()})
            for pid, (_, ids, put) in batches.items():
                if applied[pid]:
                    new.update(ids)
                    written[pid] = put
                else:
                    redirected[pid].extend(todo[pid])
            claimed, unsure = {}, redirected  # anything retried is checked against its partition
            known = {p: h for p, h in known.items() if p not in redirected}
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def reattribute(
        self,
        *,
        person_ids: Collection[str],
        owner: Callable[[LoggedEvent], str | None],
        folding: Folding,
    ) -> dict[str, int]:
        return self._splits.reattribute(person_ids, owner, folding)

    def erase(self, person_id: str) -> tuple[int, bool]:
        head = self._live_erasable(person_id)
        parts = head.scope
        rows = self._p.conn.session.execute(self._p.st.event_ids, (self._p.ns, list(parts)))
        event_ids = {eid for (eid,) in rows if eid is not None}
        self._p.conn.run_all([(self._p.st.drop_claim, (self._p.ns, eid)) for eid in event_ids])
        self._p.conn.run_all([(self._p.st.delete_partition, (self._p.ns, p)) for p in parts])
        return len(event_ids), head.state is not None

    def scrub_keys(self, person_ids: Collection[str], keys: Collection[str]) -> dict[str, int]:
        gone = set(keys)
        p = self._p
        owner_of = {part: head.person_id for head in map(p.live, person_ids) for part in head.scope}
        if not owner_of or not gone:
            return {}
        per_person: dict[str, int] = defaultdict(int)
        updates = []
        for part, event_id, row_keys, blob, ttl in p.conn.session.execute(
            p.st.keys_of_rows, (p.ns, sorted(owner_of))
        ):
            found = scrubbed(row_keys or [], decode_facts(blob), gone) if event_id is not None else None
            if found is not None:
                params = (ttl or 0, list(found[0]), encode_facts(found[1]), p.ns, part, event_id)
                updates.append((p.st.scrub_keys, params))
                per_person[owner_of[part]] += 1
        p.conn.run_all(updates)
        return dict(per_person)

    def _live_erasable(self, person_id: str) -> Head:
        """Erasure has no folding at hand; a merge left pending is finished by state-only rules:
        the pending partitions are erased with the person."""
        head = self._p.live(person_id)
        pending = set(head.pending)
        if not pending:
            return head
        extra = {p for loser in pending for p in self._p.head(loser).scope}
        return Head(head.person_id, head.version, head.state, None, frozenset(), head.absorbed | extra)

    # -- reads -------------------------------------------------------------------------------

    def get(self, person_id: str) -> ProfileState | None:
        return self._p.live(person_id).decoded()

    def get_many(
        self, person_ids: Collection[str], *, known: Mapping[str, Written] | None = None
    ) -> dict[str, ProfileState]:
        heads = self._p.heads(person_ids)
        out = {}
        for pid, head in heads.items():
            live = self._p.live_from(head, None)
            put = (known or {}).get(live.person_id)
            state = put.state if put is not None and put.stored == live.state else live.decoded()
            if state is not None:
                out[pid] = state
        return out

    def events_of(self, person_id: str) -> list[LoggedEvent]:
        head = self._p.live(person_id)
        unique = {e.facts.event_id: e for _, e in self._p.located_events([head])}
        return sorted(unique.values(), key=lambda e: (e.facts.occurred_at, e.facts.event_id))

    def ping(self) -> None:
        self._p.conn.session.execute(self._p.st.ping)

    def close(self) -> None:
        self._p.conn.release()
