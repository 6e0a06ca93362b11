"""The IdentityGraph port on Neo4j: the session runs the transactions (writes) and the one-statement
reads of the resolve path."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from identity.identifiers import EvidenceClass, display_of, type_of
from identity.model import (
    ChangeSet,
    EdgeState,
    GraphErasure,
    OutboxEntry,
    PersonGraph,
    PersonNode,
    SharedResolution,
    Snapshot,
    UnappliedLink,
)
from identity.stores.neo4j.cypher import (
    IDENTIFIER,
    IDENTIFIERS,
    LIVE_PERSON,
    LIVE_PERSONS,
    OUTBOX,
    OUTBOX_DONE,
    PERSON,
    PERSON_GRAPH,
    RESOLVE,
    RESOLVE_MANY,
)
from identity.stores.neo4j.session import Neo4jSession
from identity.stores.neo4j.transactions import GraphTransactions

R = TypeVar("R")


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
        self._session = Neo4jSession(
            uri=uri,
            user=user,
            password=password,
            database=database,
            namespace=namespace,
            connection_timeout=connection_timeout,
            max_transaction_retry_time=max_transaction_retry_time,
        )
        self._tx = GraphTransactions(self._session)

    # -- writes ------------------------------------------------------------------------------

    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        return self._session.run(
            self._tx.stitch, sorted(set(keys)), sorted(set(pairs)), sorted(set(event_ids)), plan
        )

    def outbox(self, before: int, limit: int) -> list[OutboxEntry]:
        recs = self._session.read_all(OUTBOX, before=before, limit=limit)
        return [OutboxEntry(r["id"], r["at"], bytes(r["body"])) for r in recs]

    def outbox_done(self, ids: Collection[str]) -> None:
        if ids:
            self._session.run(lambda tx: tx.run(self._session.q(OUTBOX_DONE), ids=list(ids)).consume())

    def detach(
        self,
        key: str,
        *,
        new_person_id: str | None,
        outbox: Callable[[str], OutboxEntry] | None = None,
    ) -> str | None:
        return self._session.run(self._tx.detach, key, new_person_id, outbox)

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        return self._session.run(self._tx.erase, person_id, sorted(set(event_ids)))

    # -- reads -------------------------------------------------------------------------------

    def resolve(self, key: str) -> str | SharedResolution | None:
        rec = self._session.read(RESOLVE, k=key)
        if rec is None or rec["sh"]:
            return _shared(key, rec)
        return rec["pid"]

    def persons_linked_to(self, keys: Collection[str]) -> set[str]:
        recs = self._session.read_all(
            "UNWIND $ks AS k MATCH (:{Identifier} {{key: k}})-[:LINK]-(b:{Identifier}) "
            "WHERE b.person_id IS NOT NULL RETURN DISTINCT b.person_id AS pid",
            ks=list(dict.fromkeys(keys)),
        )
        return {rec["pid"] for rec in recs}

    def live_person(self, person_id: str) -> str | None:
        rec = self._session.read(LIVE_PERSON, id=person_id)
        return None if rec is None else rec["pid"]

    def resolve_many(self, keys: Collection[str]) -> dict[str, str | SharedResolution]:
        out: dict[str, str | SharedResolution] = {}
        for rec in self._session.read_all(RESOLVE_MANY, ks=list(dict.fromkeys(keys))):
            found = _shared(rec["k"], rec) if rec["sh"] else rec["pid"]
            if found is not None:
                out[rec["k"]] = found
        return out

    def live_persons(self, person_ids: Collection[str]) -> dict[str, str]:
        recs = self._session.read_all(LIVE_PERSONS, ids=list(dict.fromkeys(person_ids)))
        return {rec["id"]: rec["pid"] for rec in recs}

    def resolve_people(self, keys: Collection[str]) -> dict[str, PersonGraph | SharedResolution]:
        """One statement for all keys: `resolve_person`'s, unwound."""
        out: dict[str, PersonGraph | SharedResolution] = {}
        recs = self._session.read_all(
            IDENTIFIERS
            + "WITH k, i.shared AS sh, users, CASE WHEN i.shared THEN null ELSE i.person_id END AS pid "
            + PERSON_GRAPH
            + ", k, sh, users",
            ks=list(dict.fromkeys(keys)),
        )
        for rec in recs:
            if rec["sh"]:
                out[rec["k"]] = SharedResolution(rec["k"], tuple(sorted(rec["users"])))
            elif rec["pid"] is not None:
                out[rec["k"]] = self._person_graph(rec)
        return out

    def person_graph(self, person_id: str) -> PersonGraph | None:
        rec = self._session.read(PERSON + "WHERE pid IS NOT NULL " + PERSON_GRAPH, id=person_id)
        return None if rec is None else self._person_graph(rec)

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        """One statement (Resolve's path): the identifier, then its person's graph."""
        rec = self._session.read(
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
        self._session.read("RETURN 1 AS one")

    def clear(self) -> None:
        """Deletes every node of this namespace. For tests and benchmarks that reuse a namespace."""
        self._session.clear()

    def close(self) -> None:
        self._session.close()


def _edge(e: Any) -> EdgeState:
    return EdgeState(
        e["a"], e["b"], e["first_seen"], e["last_seen"], e["channel"], e["rule"],
        EvidenceClass(e["strength"]), e["event_count"],
    )  # fmt: skip


def _shared(key: str, rec: Any) -> SharedResolution | None:
    """What resolving `key` gives when it is unknown (no record) or shared."""
    return None if rec is None else SharedResolution(key, tuple(sorted(rec["users"])))
