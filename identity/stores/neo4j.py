"""The identity graph in Neo4j, for when several idstitch servers stitch into one graph.

Data model. (:Identifier {key, type, person_id, shared, first_seen, last_seen, weak_since,
weak_via}) nodes joined by
[:LINK {first_seen, last_seen, channel, rule, strength, event_count}] relationships, stored once
from the smaller key to the larger. Membership is the identifier's `person_id` property (one
indexed lookup on the resolve path) with (:Person {id, first_seen}) nodes; merged-away ids are
(:Alias {alias, person_id}); persons that used a shared identifier are (:SharedUse); accepted
events are (:Event {event_id, person_id, occurred_at, committed_at, batch_seq}), their person as
attributed at ingest (a read follows the alias). An optional namespace prefixes every label, so several
graphs (tenants, tests) can share one database.

Serializable stitching without split brains. A batch is one managed write transaction that
first *locks* everything its decision reads, in a fixed order — the persons its identifiers
belong to, sorted (a write to each Person), then its event ids (MERGE on a unique constraint),
then its identifier keys, sorted (a write to each key's (:IdentifierLock {key}) node, MERGEd) —
and only then reads them.
Only a transaction holding a person's lock changes that person's members, aliases or events, and
a merge needs both persons' locks: a second server merging the same person waits until the first
commits, then reads the merged state, so two merges can never each see half of the other. Where
the fixed order cannot be kept (a person merged by another server between the first read and the
locks) a deadlock is possible; Neo4j detects it and the driver retries the transaction from the
start with a fresh snapshot (the plan is a pure function of the snapshot). So every committed
batch saw the state left by the batches committed before it: the result equals some sequential
run, and the commit stamps on the events record which one.

Why a key is locked through a node of its own rather than its Identifier. In Neo4j 5, while a
transaction waits for a node's lock, the holder cannot create a relationship to that node: Neo4j
reports a deadlock (reproduced with two transactions, for sparse and dense nodes alike). Batches
that waited for a kiosk's Identifier killed the batch ahead of them whenever it linked to the
kiosk — 20 to 59 deadlocks in 80 batches with two ingest clients. Lock nodes never carry
relationships, so waiting on them is harmless (none in the same runs). They hold the key, so
erasure deletes them with the identifiers.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from common.errors import StoreUnavailable
from identity.identifiers import Strength, display_of, type_of
from identity.model import (
    ChangeSet,
    EdgeState,
    GraphErasure,
    IdentifierState,
    PersonGraph,
    PersonNode,
    PersonState,
    SharedResolution,
    Snapshot,
    UnappliedLink,
)

R = TypeVar("R")
WEAK_HOPS = 4
"""How far a batch's snapshot follows identifiers joined through a weak link to its identifiers."""
IDENTIFIER = (
    # A sighted identifier and, when it is shared, the persons who used it.
    "MATCH (i:{Identifier} {{key: $k}}) WHERE i.type IS NOT NULL "
    "OPTIONAL MATCH (s:{SharedUse} {{key: $k}}) WHERE i.shared "
    "WITH i, collect(s.person_id) AS users "
)
RESOLVE = IDENTIFIER + "RETURN i.person_id AS pid, i.shared AS sh, users"
PERSON = (
    # The live person an id names: itself, or the survivor of its merge.
    "OPTIONAL MATCH (p:{Person} {{id: $id}}) OPTIONAL MATCH (al:{Alias} {{alias: $id}}) "
    "WITH coalesce(p.id, al.person_id) AS pid "
)
LIVE_PERSON = PERSON + "RETURN pid"
PERSON_GRAPH = (
    # The graph of the person `pid`, in one statement. Links are walked from the person's own
    # identifiers (whose degree the caps bound), never from a shared one, which may be linked to
    # thousands. With `pid` null every part is empty.
    "CALL (pid) {{ MATCH (i:{Identifier} {{person_id: pid}}) "
    "  RETURN collect(i {{.key, .shared, .first_seen, .last_seen}}) AS members }} "
    "CALL (pid) {{ MATCH (s:{SharedUse} {{person_id: pid}}) "
    "  MATCH (i:{Identifier} {{key: s.key}}) "
    "  RETURN collect(i {{.key, .shared, .first_seen, .last_seen}}) AS shared }} "
    "CALL (pid) {{ MATCH (a:{Alias} {{person_id: pid}}) RETURN collect(a.alias) AS aliases }} "
    "CALL (members, shared) {{ "
    "  WITH [m IN members | m.key] AS own, "
    "    [m IN members | m.key] + [x IN shared | x.key] AS keys "
    "  UNWIND own AS k MATCH (a:{Identifier} {{key: k}})-[l:LINK]-(b:{Identifier}) "
    "  WHERE b.key IN keys AND (a.key < b.key OR b.shared) "
    "  RETURN collect(l {{a: startNode(l).key, b: endNode(l).key, .first_seen, .last_seen, "
    "    .channel, .rule, .strength, .event_count}}) AS links }} "
    # Weak links to another person's identifiers: pending, or kept apart.
    "CALL (pid, members) {{ "
    "  UNWIND [m IN members | m.key] AS k MATCH (a:{Identifier} {{key: k}})-[l:LINK]-(b:{Identifier}) "
    "  WHERE l.strength = 1 AND b.person_id IS NOT NULL AND b.person_id <> pid "
    "  RETURN collect(l {{mine: k, other: b.person_id, a: startNode(l).key, b: endNode(l).key, "
    "    .first_seen, .last_seen, .channel, .rule, .strength, .event_count}}) AS unapplied }} "
    "RETURN pid, members, shared, aliases, links, unapplied"
)
NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$|^$")


class Neo4jIdentityGraph:
    def __init__(
        self,
        *,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        namespace: str = "",
        connection_timeout: float = 5.0,
        max_transaction_retry_time: float = 15.0,
    ) -> None:
        import neo4j

        if not NAMESPACE.match(namespace):
            raise ValueError("namespace must be letters, digits and underscores, starting with a letter")
        self._neo4j = neo4j
        auth = (user, password) if password else None
        self._driver = neo4j.GraphDatabase.driver(
            uri,
            auth=auth,
            connection_timeout=connection_timeout,
            # Schema notices ("property key does not exist" on a new graph) would flood the log.
            notifications_min_severity="OFF",
        )
        self._database = database
        self._max_retry = max_transaction_retry_time
        # Labels cannot be parameters; the namespace is validated above and is the only text spliced.
        self._labels = {
            name: f"{namespace}{name}"
            for name in ("Identifier", "IdentifierLock", "Person", "Alias", "SharedUse", "Event")
        }
        self._run(self._create_schema)

    def _q(self, cypher: str) -> str:
        return cypher.format(**self._labels)

    def _run(self, fn: Callable[..., Any], *args: Any, write: bool = True, auto: bool = False) -> Any:
        """Runs `fn(tx, *args)` in a transaction, retrying transient failures (deadlocks, a
        leader switch, a dropped connection) from the start until `max_transaction_retry_time`;
        then StoreUnavailable. Our own loop rather than the driver's: its backoff starts at a
        second, which a detected deadlock between two batches does not need. Re-running a batch
        whose commit outcome was unknown is safe: its event ids make it a no-op the second time.

        With `auto`, `fn(session, *args)` runs one statement in a transaction of its own (an
        auto-commit query): for a read of one statement, an explicit BEGIN and COMMIT doubled
        the CPU a Resolve cost both the driver and Neo4j (see _read)."""
        neo4j = self._neo4j
        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        deadline = time.monotonic() + self._max_retry
        delay = 0.005
        while True:
            try:
                with self._driver.session(database=self._database, default_access_mode=mode) as session:
                    if auto:
                        return fn(session, *args)
                    with session.begin_transaction() as tx:
                        result = fn(tx, *args)
                        tx.commit()
                        return result
            except (
                neo4j.exceptions.TransientError,
                neo4j.exceptions.ServiceUnavailable,
                neo4j.exceptions.SessionExpired,
                neo4j.exceptions.ConstraintError,  # a concurrent server created the same event first
            ) as e:
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailable(f"neo4j unavailable: {e.__class__.__name__}") from e
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.5)
            except neo4j.exceptions.DriverError as e:
                raise StoreUnavailable(f"neo4j driver: {e.__class__.__name__}") from e

    def _read(self, cypher: str, **params: Any) -> Any:
        """The single record of a one-statement read, or None. Auto-committed: on a warm node a
        lookup by key cost 300 us of driver CPU and 225-390 us of Neo4j's this way, 460-570 and
        510-1,300 us inside an explicit transaction (2,000 calls each, alternating)."""
        return self._run(lambda s: s.run(self._q(cypher), **params).single(), write=False, auto=True)

    def _create_schema(self, tx: Any) -> None:
        for cypher in (
            "CREATE CONSTRAINT {Identifier}_key IF NOT EXISTS FOR (n:{Identifier}) REQUIRE n.key IS UNIQUE",
            "CREATE CONSTRAINT {IdentifierLock}_key IF NOT EXISTS "
            "FOR (n:{IdentifierLock}) REQUIRE n.key IS UNIQUE",
            "CREATE CONSTRAINT {Person}_id IF NOT EXISTS FOR (n:{Person}) REQUIRE n.id IS UNIQUE",
            "CREATE CONSTRAINT {Alias}_alias IF NOT EXISTS FOR (n:{Alias}) REQUIRE n.alias IS UNIQUE",
            "CREATE CONSTRAINT {SharedUse}_uid IF NOT EXISTS FOR (n:{SharedUse}) REQUIRE n.uid IS UNIQUE",
            "CREATE CONSTRAINT {Event}_id IF NOT EXISTS FOR (n:{Event}) REQUIRE n.event_id IS UNIQUE",
            "CREATE INDEX {Identifier}_person IF NOT EXISTS FOR (n:{Identifier}) ON (n.person_id)",
            "CREATE INDEX {Identifier}_weak_via IF NOT EXISTS FOR (n:{Identifier}) ON (n.weak_via)",
            "CREATE INDEX {Alias}_person IF NOT EXISTS FOR (n:{Alias}) ON (n.person_id)",
            "CREATE INDEX {SharedUse}_key IF NOT EXISTS FOR (n:{SharedUse}) ON (n.key)",
            "CREATE INDEX {SharedUse}_person IF NOT EXISTS FOR (n:{SharedUse}) ON (n.person_id)",
            # Events are no longer looked up by person (merges do not touch them).
            "DROP INDEX {Event}_person IF EXISTS",
        ):
            tx.run(self._q(cypher)).consume()

    # -- writes ------------------------------------------------------------------------------

    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        return self._run(self._stitch_tx, sorted(set(keys)), sorted(set(pairs)), sorted(set(event_ids)), plan)

    def _stitch_tx(
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
                r["a"], r["b"], r["fs"], r["ls"], r["ch"], r["rule"], Strength(r["st"]), r["n"]
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
                    "st": int(e.strength),
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

    def detach(self, key: str, *, new_person_id: str | None) -> str | None:
        return self._run(self._detach_tx, key, new_person_id)

    def _detach_tx(self, tx: Any, key: str, new_person_id: str | None) -> str | None:
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
        return pid

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        return self._run(self._erase_tx, person_id, sorted(set(event_ids)))

    def _erase_tx(self, tx: Any, person_id: str, event_ids: list[str]) -> GraphErasure | None:
        pid = self._live_tx(tx, person_id)
        if pid is None or not self._lock_persons(tx, [pid]):
            return None
        one = lambda cypher, **params: tx.run(self._q(cypher), **params).single()  # noqa: E731
        keys = one("MATCH (i:{Identifier} {{person_id: $p}}) RETURN collect(i.key) AS keys", p=pid)["keys"]
        links = one(
            "UNWIND $keys AS k MATCH (:{Identifier} {{key: k}})-[l:LINK]-() RETURN count(DISTINCT l) AS n",
            keys=keys,
        )["n"]
        one("MATCH (i:{Identifier} {{person_id: $p}}) DETACH DELETE i RETURN count(*) AS n", p=pid)
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

    # -- reads -------------------------------------------------------------------------------

    def resolve(self, key: str) -> str | SharedResolution | None:
        rec = self._read(RESOLVE, k=key)
        if rec is None or rec["sh"]:
            return _shared(key, rec)
        return rec["pid"]

    def live_person(self, person_id: str) -> str | None:
        rec = self._read(LIVE_PERSON, id=person_id)
        return None if rec is None else rec["pid"]

    def _live_tx(self, tx: Any, person_id: str) -> str | None:
        rec = tx.run(self._q(LIVE_PERSON), id=person_id).single()
        return None if rec is None else rec["pid"]

    def person_graph(self, person_id: str) -> PersonGraph | None:
        rec = self._read(PERSON + "WHERE pid IS NOT NULL " + PERSON_GRAPH, id=person_id)
        return None if rec is None else self._person_graph(rec)

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        """One statement (Resolve's path): the identifier, then its person's graph."""
        rec = self._read(
            IDENTIFIER
            + "WITH i.shared AS sh, users, CASE WHEN i.shared THEN null ELSE i.person_id END AS pid "
            + PERSON_GRAPH
            + ", sh, users",
            k=key,
        )
        if rec is None or rec["sh"]:
            return _shared(key, rec)
        return None if rec["pid"] is None else self._person_graph(rec)

    def _person_graph(self, rec: Any) -> PersonGraph:
        rows = sorted(rec["members"], key=lambda r: r["key"]) + sorted(rec["shared"], key=lambda r: r["key"])
        nodes = tuple(
            PersonNode(
                r["key"],
                type_of(r["key"]),
                display_of(r["key"]),
                r["shared"],
                r["first_seen"],
                r["last_seen"],
            )
            for r in rows
        )
        edges = tuple(_edge(e) for e in sorted(rec["links"], key=lambda e: (e["a"], e["b"])))
        unapplied = tuple(
            UnappliedLink(u["mine"], u["other"], _edge(u))
            for u in sorted(rec["unapplied"], key=lambda u: (u["mine"], u["other"], u["a"], u["b"]))
        )
        return PersonGraph(rec["pid"], tuple(sorted(rec["aliases"])), nodes, edges, unapplied)

    def ping(self) -> None:
        self._read("RETURN 1 AS one")

    def clear(self) -> None:
        """Deletes every node of this namespace. For tests and benchmarks that reuse a namespace."""
        with self._driver.session(database=self._database) as session:
            for label in self._labels.values():
                session.run(
                    f"MATCH (n:`{label}`) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 5000 ROWS"
                ).consume()

    def close(self) -> None:
        self._driver.close()


def _edge(e: Any) -> EdgeState:
    return EdgeState(
        e["a"], e["b"], e["first_seen"], e["last_seen"], e["channel"], e["rule"], Strength(e["strength"]),
        e["event_count"],
    )  # fmt: skip


def _shared(key: str, rec: Any) -> SharedResolution | None:
    """What resolving `key` gives when it is unknown (no record) or shared."""
    return None if rec is None else SharedResolution(key, tuple(sorted(rec["users"])))
