"""The graph's write transactions: a batch stitched serializably (locks first, in a fixed order,
then the reads the plan decides on, then its change set), a detach and an erasure. Each runs
inside Neo4jSession.run, which retries it from the start on a transient failure; the package
docstring says why the locks are taken the way they are."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from identity.identifiers import EvidenceClass
from identity.model import (
    ChangeSet,
    EdgeState,
    GraphErasure,
    IdentifierState,
    OutboxEntry,
    PersonState,
    Snapshot,
)
from identity.stores.neo4j.cypher import LIVE_PERSON
from identity.stores.neo4j.session import Neo4jSession

R = TypeVar("R")
WEAK_HOPS = 4
"""How far a batch's snapshot follows identifiers joined through a weak link to its identifiers."""


class GraphTransactions:
    def __init__(self, session: Neo4jSession) -> None:
        self._q = session.q

    def stitch(
        self,
        tx: Any,
        keys: list[str],
        pairs: list[tuple[str, str]],
        event_ids: list[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        # 1. The persons the batch's identifiers belong to, read without locks, then locked in id
        #    order. Only a holder of a person's lock changes its membership, aliases or events.
        person_ids = sorted(
            {
                r["pid"]
                for r in tx.run(
                    self._q(
                        "UNWIND $keys AS k MATCH (i:{Identifier} {{key: k}}) "
                        "RETURN DISTINCT i.person_id AS pid"
                    ),
                    keys=keys,
                )
                if r["pid"] is not None
            }
        )
        persons = self._lock_persons(tx, person_ids)
        # 2. The batch's event ids, then its identifier keys, each in sorted order (MERGE locks).
        known = {
            r["id"]: r["pid"]
            for r in tx.run(
                self._q(
                    "UNWIND $ids AS id MATCH (e:{Event} {{event_id: id}}) "
                    "OPTIONAL MATCH (a:{Alias} {{alias: e.person_id}}) "
                    "RETURN id, coalesce(a.person_id, e.person_id) AS pid"
                ),
                ids=event_ids,
            )
        }
        idents: dict[str, IdentifierState] = {}
        for r in tx.run(
            self._q(
                "UNWIND $keys AS k MERGE (l:{IdentifierLock} {{key: k}}) SET l.n = coalesce(l.n, 0) + 1 "
                "MERGE (i:{Identifier} {{key: k}}) "
                "WITH i WHERE i.type IS NOT NULL "
                "RETURN i.key AS key, i.type AS type, i.person_id AS pid, i.shared AS shared, "
                "i.first_seen AS fs, i.last_seen AS ls, i.weak_since AS ws, i.weak_via AS wv"
            ),
            keys=keys,
        ):
            idents[r["key"]] = IdentifierState(
                r["key"], r["type"], r["pid"], r["shared"], r["fs"], r["ls"], r["ws"], r["wv"]
            )
        # Those joined to the batch's identifiers by weak links, a few hops deep, and the partners
        # of their weak links: the engine re-judges a weak link when a late sighting arrives and
        # moves what was joined through an identifier with it. Read, not locked: they are
        # changed only together with their person, which step 3 locks.
        frontier = list(idents)
        for _ in range(WEAK_HOPS):
            frontier = self._load_identifiers(tx, idents, "weak_via", frontier)
            if not frontier:
                break
        partners = sorted({s.weak_via for s in idents.values() if s.weak_via and s.weak_via not in idents})
        self._load_identifiers(tx, idents, "key", partners)
        # 3. A person merged between steps 1 and 2 by another server: lock its survivor too (out of
        #    order, so rarely a deadlock, which Neo4j detects and the driver retries).
        late = sorted({s.person_id for s in idents.values() if s.person_id and s.person_id not in persons})
        persons.update(self._lock_persons(tx, late))
        person_ids = sorted(persons)
        for r in tx.run(
            self._q(
                "UNWIND $ids AS id MATCH (i:{Identifier} {{person_id: id}}) "
                "RETURN id, i.type AS type, count(*) AS n"
            ),
            ids=person_ids,
        ):
            persons[r["id"]].counts[r["type"]] = r["n"]
        edges = {
            (r["a"], r["b"]): EdgeState(
                r["a"], r["b"], r["fs"], r["ls"], r["ch"], r["rule"], EvidenceClass(r["st"]), r["n"]
            )
            for r in tx.run(
                self._q(
                    # Both ends found by the unique index, then the link between them (expand-into),
                    # never a walk over a dense node's links (a kiosk has thousands).
                    "UNWIND $pairs AS pr WITH pr[0] AS ka, pr[1] AS kb "
                    "MATCH (a:{Identifier} {{key: ka}}) MATCH (b:{Identifier} {{key: kb}}) "
                    "MATCH (a)-[l:LINK]->(b) "
                    "RETURN a.key AS a, b.key AS b, l.first_seen AS fs, l.last_seen AS ls, l.channel AS ch, "
                    "l.rule AS rule, l.strength AS st, l.event_count AS n"
                ),
                pairs=[list(p) for p in pairs],
            )
        }
        changes, result = plan(Snapshot(idents, persons, edges, dict(known)))
        self._apply(tx, changes, keys)
        return result

    def _load_identifiers(
        self, tx: Any, idents: dict[str, IdentifierState], prop: str, values: list[str]
    ) -> list[str]:
        """Adds the identifiers whose `prop` (key or weak_via) is one of `values`; returns the new keys."""
        found = []
        for r in tx.run(
            self._q(
                f"UNWIND $values AS v MATCH (i:{{Identifier}} {{{{{prop}: v}}}}) WHERE i.type IS NOT NULL "
                "RETURN i.key AS key, i.type AS type, i.person_id AS pid, i.shared AS shared, "
                "i.first_seen AS fs, i.last_seen AS ls, i.weak_since AS ws, i.weak_via AS wv"
            ),
            values=values,
        ):
            if r["key"] not in idents:
                idents[r["key"]] = IdentifierState(
                    r["key"], r["type"], r["pid"], r["shared"], r["fs"], r["ls"], r["ws"], r["wv"]
                )
                found.append(r["key"])
        return found

    def _lock_persons(self, tx: Any, ids: list[str]) -> dict[str, PersonState]:
        """Locks the persons that still exist. A person merged away while we waited for its lock
        reads back without properties: it is skipped, and step 3 locks its survivor."""
        return {
            r["id"]: PersonState(r["id"], r["fs"], Counter())
            for r in tx.run(
                self._q(
                    "UNWIND $ids AS id MATCH (p:{Person} {{id: id}}) SET p.lock = coalesce(p.lock, 0) + 1 "
                    "RETURN p.id AS id, p.first_seen AS fs"
                ),
                ids=ids,
            )
            if r["id"] is not None
        }

    def _apply(self, tx: Any, ch: ChangeSet, keys: list[str]) -> None:
        run = lambda cypher, **params: tx.run(self._q(cypher), **params).consume()  # noqa: E731
        if ch.new_persons:
            run(
                "UNWIND $rows AS r CREATE (:{Person} {{id: r[0], first_seen: r[1]}})",
                rows=[list(x) for x in ch.new_persons.items()],
            )
        final = ch.final_merges()
        if final:
            m = [{"l": loser, "s": survivor} for loser, survivor in final.items()]
            run("UNWIND $m AS m MATCH (i:{Identifier} {{person_id: m.l}}) SET i.person_id = m.s", m=m)
            run("UNWIND $m AS m MATCH (a:{Alias} {{person_id: m.l}}) SET a.person_id = m.s", m=m)
            run(
                "UNWIND $m AS m MATCH (s:{SharedUse} {{person_id: m.l}}) "
                "MERGE (t:{SharedUse} {{uid: s.key + '|' + m.s}}) SET t.key = s.key, t.person_id = m.s "
                "DELETE s",
                m=m,
            )
            run("UNWIND $m AS m CREATE (:{Alias} {{alias: m.l, person_id: m.s}})", m=m)
            run("UNWIND $m AS m MATCH (p:{Person} {{id: m.l}}) DELETE p", m=m)
        run(
            "UNWIND $rows AS r MATCH (i:{Identifier} {{key: r.key}}) "
            "SET i.type = r.type, i.person_id = r.pid, i.shared = r.shared, "
            "i.first_seen = r.fs, i.last_seen = r.ls, i.weak_since = r.ws, i.weak_via = r.wv",
            rows=[
                {
                    "key": s.key,
                    "type": s.type,
                    "pid": s.person_id,
                    "shared": s.shared,
                    "fs": s.first_seen,
                    "ls": s.last_seen,
                    "ws": s.weak_since,
                    "wv": s.weak_via,
                }
                for s in ch.identifiers.values()
            ],
        )
        # Keys locked for a duplicate-only event were never sighted: drop their placeholders.
        unsighted = [k for k in keys if k not in ch.identifiers]
        if unsighted:
            run(
                "UNWIND $keys AS k MATCH (i:{Identifier} {{key: k}}) WHERE i.type IS NULL DETACH DELETE i "
                "WITH k MATCH (l:{IdentifierLock} {{key: k}}) DELETE l",
                keys=unsighted,
            )
        run(
            "UNWIND $rows AS r MATCH (a:{Identifier} {{key: r.a}}), (b:{Identifier} {{key: r.b}}) "
            "MERGE (a)-[l:LINK]->(b) SET l.first_seen = r.fs, l.last_seen = r.ls, "
            "l.channel = coalesce(l.channel, r.ch), l.rule = coalesce(l.rule, r.rule), "
            "l.strength = r.st, l.event_count = r.n",
            rows=[
                {
                    "a": e.a,
                    "b": e.b,
                    "fs": e.first_seen,
                    "ls": e.last_seen,
                    "ch": e.channel,
                    "rule": e.rule,
                    "st": int(e.proves),
                    "n": e.event_count,
                }
                for e in ch.edges.values()
            ],
        )
        run(
            "UNWIND $rows AS r MERGE (s:{SharedUse} {{uid: r[0] + '|' + r[1]}}) "
            "SET s.key = r[0], s.person_id = r[1]",
            rows=[list(x) for x in ch.shared_uses],
        )
        if ch.outbox is not None:
            self._write_outbox(tx, ch.outbox)
        run(
            # Two servers stitching the same new event both reach this CREATE; the event id's
            # unique constraint fails the later one, whose retry then finds the event known.
            "UNWIND $rows AS r CREATE (:{Event} {{event_id: r.id, person_id: r.pid, occurred_at: r.at, "
            "committed_at: $stamp, "
            "batch_seq: r.seq}})",
            # Taken after every lock is held, so batches that touch the same persons get stamps in
            # the order they commit: the stamps record a sequential order equivalent to the run.
            stamp=time.time_ns(),
            rows=[
                {
                    "id": r.event_id,
                    "pid": r.person_id,
                    "at": r.occurred_at,
                    "seq": seq,
                }
                for seq, r in enumerate(ch.events)
            ],
        )

    def _write_outbox(self, tx: Any, o: OutboxEntry) -> None:
        cypher = self._q("CREATE (:{Outbox} {{id: $id, at: $at, body: $body}})")
        tx.run(cypher, id=o.id, at=o.at, body=o.body).consume()

    def detach(
        self, tx: Any, key: str, new_person_id: str | None, outbox: Callable[[str], OutboxEntry] | None
    ) -> str | None:
        # The person's lock first (as stitching takes it), then the identifier read again under it:
        # a person merged away meanwhile is followed to its survivor.
        pid: str | None = None
        while True:
            rec = tx.run(
                self._q(
                    "MATCH (i:{Identifier} {{key: $k}}) "
                    "RETURN i.person_id AS pid, i.shared AS sh, i.first_seen AS fs"
                ),
                k=key,
            ).single()
            if rec is None or rec["pid"] is None or rec["sh"]:
                return None
            if rec["pid"] == pid:
                break
            pid = rec["pid"]
            self._lock_persons(tx, [pid])
        run = lambda cypher, **params: tx.run(self._q(cypher), **params).consume()  # noqa: E731
        if new_person_id is not None:
            members = tx.run(
                self._q("MATCH (i:{Identifier} {{person_id: $p}}) RETURN count(*) AS n"), p=pid
            ).single()["n"]
            if members < 2:
                return None
            run("CREATE (:{Person} {{id: $id, first_seen: $fs}})", id=new_person_id, fs=rec["fs"])
            run("MATCH (i:{Identifier} {{key: $k}}) SET i.person_id = $id", k=key, id=new_person_id)
        else:
            run("MATCH (i:{Identifier} {{key: $k}}) SET i.person_id = null, i.shared = true", k=key)
            run("MERGE (s:{SharedUse} {{uid: $k + '|' + $p}}) SET s.key = $k, s.person_id = $p", k=key, p=pid)
        if outbox is not None and pid is not None:
            self._write_outbox(tx, outbox(pid))
        return pid

    def erase(self, tx: Any, person_id: str, event_ids: list[str]) -> GraphErasure | None:
        pid = self.live_person(tx, person_id)
        if pid is None or not self._lock_persons(tx, [pid]):
            return None
        one = lambda cypher, **params: tx.run(self._q(cypher), **params).single()  # noqa: E731
        keys = one("MATCH (i:{Identifier} {{person_id: $p}}) RETURN collect(i.key) AS keys", p=pid)["keys"]
        links = one(
            "UNWIND $keys AS k MATCH (:{Identifier} {{key: k}})-[l:LINK]-() RETURN count(DISTINCT l) AS n",
            keys=keys,
        )["n"]
        one("MATCH (i:{Identifier} {{person_id: $p}}) DETACH DELETE i RETURN count(*) AS n", p=pid)
        one(  # the raw value of a cookie, say, goes from the identifiers joined through it too
            "UNWIND $keys AS k MATCH (i:{Identifier}) WHERE i.weak_via = k SET i.weak_via = null "
            "RETURN count(*) AS n",
            keys=keys,
        )
        one(
            "UNWIND $keys AS k MATCH (l:{IdentifierLock} {{key: k}}) DELETE l RETURN count(*) AS n", keys=keys
        )
        shared = one("MATCH (s:{SharedUse} {{person_id: $p}}) DELETE s RETURN count(*) AS n", p=pid)["n"]
        aliases = one("MATCH (a:{Alias} {{person_id: $p}}) DELETE a RETURN count(*) AS n", p=pid)["n"]
        one("MATCH (p:{Person} {{id: $p}}) DELETE p RETURN count(*) AS n", p=pid)
        events = one(
            "UNWIND $ids AS id MATCH (e:{Event} {{event_id: id}}) DELETE e RETURN count(*) AS n",
            ids=event_ids,
        )["n"]
        return GraphErasure(tuple(keys), links, aliases, shared, events)

    def live_person(self, tx: Any, person_id: str) -> str | None:
        rec = tx.run(self._q(LIVE_PERSON), id=person_id).single()
        return None if rec is None else rec["pid"]
