"""Neo4j keeps no node holding a key it no longer needs — after an erasure, or for a retried
event's never-seen identifiers: neither the identifiers nor the lock nodes stitching serializes
on (identity/stores/neo4j/)."""

from __future__ import annotations

from pathlib import Path

import neo4j

from identity.stores.neo4j import Neo4jIdentityGraph
from server.bootstrap import build_system
from server.config import load_settings
from tests.helpers import ev, login, person_of, stitch
from tests.servers import neo4j_uri

NAMESPACE = "Erasure"


def _holding(graph: Neo4jIdentityGraph, keys: list[str]) -> dict[str, int]:
    """Nodes of the namespace whose `key` is one of `keys`, counted by label."""
    with neo4j.GraphDatabase.driver(neo4j_uri()) as driver, driver.session() as session:
        rows = session.run(
            "MATCH (n) WHERE n.key IN $keys UNWIND labels(n) AS label WITH label "
            "WHERE label STARTS WITH $ns RETURN label, count(*) AS n",
            keys=keys,
            ns=NAMESPACE,
        )
        return {r["label"][len(NAMESPACE) :]: r["n"] for r in rows}


def test_an_erased_person_leaves_no_node_with_one_of_their_keys(tmp_path: Path) -> None:
    graph = Neo4jIdentityGraph(uri=neo4j_uri(), namespace=NAMESPACE)
    graph.clear()
    svc = build_system(load_settings(data_dir=tmp_path, hmac_secret="test-secret"), graph=graph)
    try:
        ann = [
            login("C-ANN", ("email", "ann@example.com")),
            ev("app", ("customer_id", "C-ANN"), ("device_id", "dev-ann-phone")),
        ]
        stitch(svc, ann)
        stitch(svc, [login("C-BOB", ("email", "bob@example.com"))])
        ann_pid, bob_pid = person_of(svc, "customer_id", "C-ANN"), person_of(svc, "customer_id", "C-BOB")
        assert ann_pid and bob_pid
        ann_keys = [n.key for n in graph.person_graph(ann_pid).nodes]  # type: ignore[union-attr]
        bob_keys = [n.key for n in graph.person_graph(bob_pid).nodes]  # type: ignore[union-attr]
        assert _holding(graph, ann_keys) == {"Identifier": 3, "IdentifierLock": 3}

        graph.erase_person(ann_pid, [e.event_id for e in ann])

        assert _holding(graph, ann_keys) == {}
        assert _holding(graph, bob_keys) == {"Identifier": 2, "IdentifierLock": 2}
    finally:
        svc.close()


def test_a_retried_event_with_new_identifiers_leaves_no_node_for_them(tmp_path: Path) -> None:
    """A duplicate event's identifiers that were never seen before are locked, then dropped
    unsighted: neither their placeholder nor their lock node may stay (each holds the key)."""
    graph = Neo4jIdentityGraph(uri=neo4j_uri(), namespace=NAMESPACE)
    graph.clear()
    svc = build_system(load_settings(data_dir=tmp_path, hmac_secret="test-secret"), graph=graph)
    try:
        stitch(svc, [login("C-CAT", ("email", "cat@example.com"), event_id="ev-cat-1")])
        stitch(svc, [login("C-CAT", ("email", "cat.new@example.com"), event_id="ev-cat-1")])  # a duplicate
        new = svc.identity.key_of("email", "cat.new@example.com")
        old = svc.identity.key_of("email", "cat@example.com")
        assert not isinstance(new, str) and not isinstance(old, str)

        assert _holding(graph, [new.key]) == {}
        assert _holding(graph, [old.key]) == {"Identifier": 1, "IdentifierLock": 1}
    finally:
        svc.close()
