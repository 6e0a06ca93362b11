"""Two idstitch server processes fold events for the same persons into one Cassandra at the same
time (sharing one Neo4j graph), while an admin splits persons. Afterwards every profile must be the
fold of its events, and every event must be in the log of the person it belongs to — no update
lost to a concurrent read-modify-write, nothing left behind by a merge or a split."""

from __future__ import annotations

import random
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from profiles.reader import ProfileKey
from profiles.stores.cassandra import CassandraProfileStore
from server.bootstrap import build_system
from server.config import load_settings
from tests.profile_data import assert_same_profile
from tests.servers import IdstitchProcess, cassandra_address, cassandra_endpoint, fresh_namespace, neo4j_uri
from tests.test_neo4j_concurrency import SECRET, committed_order, graph_invariants, interleaving, population

# The populations here attach a new browser on one weak link, as before pending links were the
# default (stitching.weak_links.attach_new).
ATTACH_NEW = {"weak_links": {"attach_new": True}}
ATTACH_NEW_YAML = "stitching: {weak_links: {attach_new: true}}\n"

SPLIT = [f"p{p}@x.io" for p in range(0, 60, 6)]
"""Emails detached into persons of their own while the load runs."""


def shopping(persons: int) -> list[ev_pb.Event]:
    """The concurrency population, each event a product view, so profiles have content to lose."""
    events = population(households=False, persons=persons)
    for n, e in enumerate(events):
        e.type = "product_view"
        e.product.sku = f"sku-{n % 23}"
        e.product.category = ("grills", "dolls", "tents", "lamps")[n % 4]
        e.product.price.amount_minor = 500 + 100 * (n % 31)
        e.product.price.currency = "EUR"
    return events


@pytest.mark.e2e
def test_two_servers_folding_the_same_persons_lose_no_update_and_leave_nothing_in_the_wrong_person(
    tmp_path: Path,
) -> None:
    from identity.stores.neo4j import Neo4jIdentityGraph

    host, port = cassandra_address()
    graph_ns, profiles_ns = "CassConc", fresh_namespace()
    Neo4jIdentityGraph(uri=neo4j_uri(), namespace=graph_ns).clear()
    events = shopping(60)
    shuffled = list(events)
    random.Random(11).shuffle(shuffled)
    halves = [shuffled[0::2], shuffled[1::2]]
    servers = []
    for n in range(2):
        cfg = tmp_path / f"server{n}.yaml"
        cfg.write_text(
            f"data_dir: {tmp_path / f'data{n}'}\nhmac_secret: {SECRET}\n{ATTACH_NEW_YAML}"
            f"graph: {{type: neo4j, uri: '{neo4j_uri()}', namespace: {graph_ns}}}\n"
            f"profiles: {{type: cassandra, contact_points: ['{host}'], port: {port}, "
            f"keyspace: idstitch_test, namespace: {profiles_ns}, split_settle_seconds: 1}}\n"
        )
        servers.append(IdstitchProcess(cfg))
    halfway = threading.Barrier(3)
    split_outcomes: list[str] = []

    def send(n: int) -> None:
        with grpc.insecure_channel(servers[n].target) as raw:
            stub = pb_grpc.IdentityServiceStub(with_key(raw, next(s.key for s in servers if s.key)))
            half = halves[n]
            for i in range(0, len(half), 20):
                if i == 200:
                    halfway.wait(60)
                stub.Ingest(pb.IngestRequest(events=half[i : i + 20]), timeout=60)

    def split() -> None:
        halfway.wait(60)
        with grpc.insecure_channel(servers[0].target) as raw:
            stub = pb_grpc.IdentityServiceStub(with_key(raw, next(s.key for s in servers if s.key)))
            for email in SPLIT:
                request = pb.DetachIdentifierRequest(
                    identifier=ev_pb.Identifier(type="email", value=email), mode=pb.DETACH_MODE_NEW_PERSON
                )
                try:
                    stub.DetachIdentifier(request, timeout=60)
                    split_outcomes.append("split")
                except grpc.RpcError as e:  # the email's event may not have arrived yet
                    split_outcomes.append(e.code().name)

    try:
        with ThreadPoolExecutor(3) as pool:
            for f in [pool.submit(send, 0), pool.submit(send, 1), pool.submit(split)]:
                f.result()
        threading.Event().wait(2)  # the splits' settle sweeps (split_settle_seconds: 1)
    finally:
        logs = [s.stop() for s in servers]
        for n, log in enumerate(logs):
            if "ERROR" in log:
                print(f"--- server {n} log ---\n{log}")

    assert interleaving(committed_order(graph_ns), [{e.event_id for e in h} for h in halves]) >= 10
    assert split_outcomes.count("split") >= 5, split_outcomes
    assert all(v == 0 for v in graph_invariants(graph_ns).values())
    settings = load_settings(data_dir=Path(tempfile.mkdtemp()), hmac_secret=SECRET, stitching=ATTACH_NEW)
    system = build_system(
        settings,
        graph=Neo4jIdentityGraph(uri=neo4j_uri(), namespace=graph_ns),
        store=CassandraProfileStore(cassandra_endpoint(), keyspace="idstitch_test", namespace=profiles_ns),
    )
    view = system
    try:
        persons = {
            view.reads.profiles.person_of(ProfileKey(identifier=(i.type, i.value)))
            for e in events
            for i in e.identifiers
        }
        owner = view.splits.owner_rule()
        logged: list[str] = []
        for pid in persons:
            log = view.store.events_of(pid)
            assert log, f"a person of the graph has no events in the profile store: {pid}"
            assert {owner(e) for e in log} == {pid}  # nothing left in the wrong person
            stored = view.store.get(pid)
            assert stored is not None
            assert_same_profile(stored, view.folder.fold(type(stored)(), (e.facts for e in log)))
            logged += [e.facts.event_id for e in log]
        assert sorted(logged) == sorted(e.event_id for e in events)  # each event once, none lost
    finally:
        system.close()
