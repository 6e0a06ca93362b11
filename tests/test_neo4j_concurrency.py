"""Two idstitch server processes stitch into one Neo4j at the same time. The outcome must be that
of a sequential run: the one recorded by the commit stamps on the events."""

from __future__ import annotations

import random
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from identity.service import RawEvent
from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from server.bootstrap import build_system
from server.config import load_settings
from tests.helpers import partition, state, stitch
from tests.servers import IdstitchProcess, neo4j_uri

# The populations here attach a new browser on one weak link, as before pending links were the
# default (stitching.weak_links.attach_new).
ATTACH_NEW = {"weak_links": {"attach_new": True}}
ATTACH_NEW_YAML = "stitching: {weak_links: {attach_new: true}}\n"

SECRET = "concurrency-secret"
ZERO = "00000000-0000-0000-0000-000000000000"


def population(households: bool, persons: int = 120) -> list[ev_pb.Event]:
    """Customers with cookies, an app, emails and POS swipes. With `households`, pairs share a
    tablet and a payment card, some shop at kiosks, and some apps report the zeroed ad id."""
    out: list[ev_pb.Event] = []

    def add(channel: str, ids: list[tuple[str, str]], device: str = "") -> None:
        n = len(out)
        out.append(
            ev_pb.Event(
                event_id=f"c-{n}",
                occurred_at=Timestamp(seconds=1_750_000_000 + n),
                channel=channel,
                type="x",
                identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
                context=ev_pb.Context(device_type=device),
            )
        )

    for p in range(persons):
        c, cookies = f"C{p}", [f"k{p}-{i}" for i in range(3)]
        for k in cookies:
            add("web", [("cookie", k)])
            add("web", [("cookie", k), ("customer_id", c)])
        add("email", [("email", f"p{p}@x.io"), ("cookie", cookies[1])])
        add("app", [("device_id", ZERO if households and p % 5 == 0 else f"d{p}"), ("customer_id", c)])
        add("pos", [("loyalty_number", f"L{p}"), ("card_token", f"t{p}")])
        add("pos", [("loyalty_number", f"L{p}"), ("customer_id", c)])
        if households:
            add("web", [("cookie", f"tablet-{p // 2}"), ("customer_id", c)])
            add("pos", [("loyalty_number", f"L{p}"), ("card_token", f"joint-{p // 2}")])
            if p % 7 == 0:
                add("web", [("device_id", f"kiosk-{p % 3}"), ("customer_id", c)], device="kiosk")
    return out


def universe(events: list[ev_pb.Event]) -> list[tuple[str, str]]:
    return sorted({(i.type, i.value) for e in events for i in e.identifiers if i.value != ZERO})


def run_two_servers(tmp: Path, events: list[ev_pb.Event], namespace: str) -> list[set[str]]:
    """Sends two halves of the shuffled events through two servers at once; returns the halves."""
    from identity.stores.neo4j import Neo4jIdentityGraph

    Neo4jIdentityGraph(uri=neo4j_uri(), namespace=namespace).clear()
    shuffled = list(events)
    random.Random(5).shuffle(shuffled)
    halves = [shuffled[0::2], shuffled[1::2]]
    servers = []
    for n in range(2):
        cfg = tmp / f"server{n}.yaml"
        cfg.write_text(
            f"data_dir: {tmp / f'data{n}'}\nhmac_secret: {SECRET}\n{ATTACH_NEW_YAML}"
            f"graph: {{type: neo4j, uri: '{neo4j_uri()}', namespace: {namespace}}}\n"
        )
        servers.append(IdstitchProcess(cfg))

    def send(n: int) -> None:
        with grpc.insecure_channel(servers[n].target) as raw:
            stub = pb_grpc.IdentityServiceStub(with_key(raw, servers[n].key))
            half = halves[n]
            for i in range(0, len(half), 25):
                stub.Ingest(pb.IngestRequest(events=half[i : i + 25]))

    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(send, range(2)))
    finally:
        logs = [s.stop() for s in servers]
        for n, log in enumerate(logs):
            if "ERROR" in log:
                print(f"--- server {n} log ---\n{log}")
    return [{e.event_id for e in half} for half in halves]


def interleaving(order: list[list[str]], halves: list[set[str]]) -> int:
    """How often the commit order switches from one server's batches to the other's."""
    sides = [0 if batch[0] in halves[0] else 1 for batch in order]
    return sum(a != b for a, b in pairwise(sides))


def committed_order(namespace: str) -> list[list[str]]:
    """Event ids grouped by batch, in commit-stamp order."""
    import neo4j

    with neo4j.GraphDatabase.driver(neo4j_uri()) as driver:
        rows, _, _ = driver.execute_query(
            f"MATCH (e:`{namespace}Event`) RETURN e.event_id AS id, e.committed_at AS at, e.batch_seq AS seq "
            "ORDER BY at, seq"
        )
    batches: dict[int, list[str]] = {}
    for r in rows:
        batches.setdefault(r["at"], []).append(r["id"])
    return list(batches.values())


def graph_invariants(namespace: str, uri: str | None = None) -> dict[str, int]:
    """Counts of what must never exist; every value is 0 in a sound graph."""
    import neo4j

    checks = {
        "identifier without a live person": "MATCH (i:`{n}Identifier`) WHERE i.shared = false "
        "AND NOT EXISTS {{ MATCH (p:`{n}Person` {{id: i.person_id}}) }} RETURN count(i) AS c",
        "placeholder identifier": "MATCH (i:`{n}Identifier`) WHERE i.type IS NULL RETURN count(i) AS c",
        "placeholder event": "MATCH (e:`{n}Event`) WHERE e.occurred_at IS NULL RETURN count(e) AS c",
        "alias to a dead person": "MATCH (a:`{n}Alias`) "
        "WHERE NOT EXISTS {{ MATCH (p:`{n}Person` {{id: a.person_id}}) }} RETURN count(a) AS c",
        "person with two customer ids": "MATCH (i:`{n}Identifier` {{type: 'customer_id'}}) "
        "WHERE i.shared = false WITH i.person_id AS p, count(*) AS k WHERE k > 1 RETURN count(p) AS c",
        "shared identifier with a person": "MATCH (i:`{n}Identifier`) "
        "WHERE i.shared AND i.person_id IS NOT NULL RETURN count(i) AS c",
        "empty person": "MATCH (p:`{n}Person`) "
        "WHERE NOT EXISTS {{ MATCH (i:`{n}Identifier` {{person_id: p.id}}) }} RETURN count(p) AS c",
    }
    with neo4j.GraphDatabase.driver(uri or neo4j_uri()) as driver:
        return {name: driver.execute_query(q.format(n=namespace))[0][0]["c"] for name, q in checks.items()}


def replay(events: list[ev_pb.Event], order: list[list[str]], tmp: Path):
    """A sequential run on the embedded store, batch by batch in the given order."""
    by_id = {e.event_id: e for e in events}
    svc = build_system(load_settings(data_dir=tmp, hmac_secret=SECRET, stitching=ATTACH_NEW))
    from server.convert import raw_event

    for batch in order:
        raws: list[RawEvent] = []
        for i, eid in enumerate(batch):
            copy = ev_pb.Event()
            copy.CopyFrom(by_id[eid])
            raws.append(raw_event(copy, f"events[{i}]"))
        stitch(svc, raws)
    return svc


def neo4j_view(namespace: str):
    from identity.stores.neo4j import Neo4jIdentityGraph

    settings = load_settings(data_dir=Path(tempfile.mkdtemp()), hmac_secret=SECRET, stitching=ATTACH_NEW)
    return build_system(settings, graph=Neo4jIdentityGraph(uri=neo4j_uri(), namespace=namespace))


@pytest.mark.e2e
def test_concurrent_servers_give_the_sequential_partition_when_evidence_never_conflicts(tmp_path):
    events = population(households=False)
    run_two_servers(tmp_path, events, "ConcA")
    assert all(v == 0 for v in graph_invariants("ConcA").values()), graph_invariants("ConcA")
    sequential = replay(events, [[e.event_id] for e in events], tmp_path / "seq")
    ids = universe(events)
    assert partition(neo4j_view("ConcA"), ids) == partition(sequential, ids)
    assert len(partition(sequential, ids)) == 120


@pytest.mark.e2e
def test_concurrent_servers_with_households_kiosks_and_shared_cards_equal_their_commit_order(tmp_path):
    events = population(households=True)
    halves = run_two_servers(tmp_path, events, "ConcB")
    assert all(v == 0 for v in graph_invariants("ConcB").values()), graph_invariants("ConcB")
    order = committed_order("ConcB")
    assert sorted(e for b in order for e in b) == sorted(e.event_id for e in events)  # no lost event
    assert interleaving(order, halves) >= 10, "the two servers did not run at the same time"
    sequential = replay(events, order, tmp_path / "seq")
    ids = universe(events)
    view = neo4j_view("ConcB")
    got = state(view, ids)
    assert got == state(sequential, ids)  # the very same person ids, shared marks and merges
    for pid in {p for p in got.values() if p not in (None, "shared")}:
        # every link, alias and count too
        assert view.reads.identity.person(pid) == sequential.reads.identity.person(pid)
    assert sum(v == "shared" for v in got.values()) >= 60 + 3  # tablets, joint cards, kiosks
