"""Neo4j stopped in the middle of an ingest: callers get UNAVAILABLE, health turns NOT_SERVING,
service resumes by itself when Neo4j is back, and retried batches give the graph an
uninterrupted run gives. Uses a Neo4j of its own, stopped and started by scripts/neo4j."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity.stores.neo4j import Neo4jIdentityGraph
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from server.bootstrap import build_identity_service
from server.client import with_key
from server.config import load_settings
from tests.helpers import state
from tests.servers import ROOT, IdstitchProcess, neo4j_uri
from tests.test_neo4j_concurrency import SECRET, graph_invariants, population, replay, universe

SCRIPT = str(ROOT / "scripts/neo4j/neo4j")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_neo4j_going_away_mid_ingest_is_unavailable_then_recovers_to_the_same_graph(tmp_path: Path):
    neo4j_uri()  # skips (or fails under CI) when no Neo4j can run here
    home, port = tempfile.mkdtemp(prefix="idstitch-neo4j-fault-"), free_port()
    subprocess.run([SCRIPT, "start", home, str(port)], check=True, capture_output=True)
    events = population(households=True, persons=60)
    batches = [events[i : i + 20] for i in range(0, len(events), 20)]
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path / 'data'}\nhmac_secret: {SECRET}\n"
        f"graph: {{type: neo4j, uri: 'bolt://127.0.0.1:{port}', namespace: Fault, "
        "connection_timeout_seconds: 1, max_transaction_retry_seconds: 1}\n"
    )
    server = IdstitchProcess(cfg)
    failures: list[grpc.StatusCode] = []
    health_seen: list[int] = []
    done_batches = threading.Event()
    try:
        with grpc.insecure_channel(server.target) as raw:
            ch = with_key(raw, server.key)
            stub, health = pb_grpc.IdentityServiceStub(ch), health_pb2_grpc.HealthStub(ch)

            def status() -> int:
                return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status

            def send() -> None:
                for n, batch in enumerate(batches):
                    while True:
                        try:
                            stub.Ingest(pb.IngestRequest(events=batch), timeout=30)
                            break
                        except grpc.RpcError as e:
                            failures.append(e.code())
                            if e.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                            time.sleep(0.5)  # the retry a client makes: same batch, same event ids
                    if n == 3:
                        done_batches.set()
                    time.sleep(0.05)

            sender = threading.Thread(target=send)
            sender.start()
            done_batches.wait(60)
            subprocess.run([SCRIPT, "stop", home], check=True)
            deadline = time.time() + 20
            while time.time() < deadline and status() != health_pb2.HealthCheckResponse.NOT_SERVING:
                time.sleep(0.3)
            health_seen.append(status())
            time.sleep(2)
            subprocess.run([SCRIPT, "start", home, str(port)], check=True, capture_output=True)
            deadline = time.time() + 30
            while time.time() < deadline and status() != health_pb2.HealthCheckResponse.SERVING:
                time.sleep(0.3)
            health_seen.append(status())
            sender.join(120)
            assert not sender.is_alive()
    finally:
        server.stop()
        subprocess.run([SCRIPT, "stop", home], check=False)

    assert health_seen == [health_pb2.HealthCheckResponse.NOT_SERVING, health_pb2.HealthCheckResponse.SERVING]
    assert failures and set(failures) == {grpc.StatusCode.UNAVAILABLE}
    subprocess.run([SCRIPT, "start", home, str(port)], check=True, capture_output=True)
    uri = f"bolt://127.0.0.1:{port}"
    try:
        invariants = graph_invariants("Fault", uri)
        assert all(v == 0 for v in invariants.values()), invariants
        graph = Neo4jIdentityGraph(uri=uri, namespace="Fault")
        view = build_identity_service(load_settings(data_dir=tmp_path / "view", hmac_secret=SECRET), graph)
        uninterrupted = replay(events, [[e.event_id for e in b] for b in batches], tmp_path / "seq")
        ids = universe(events)
        assert state(view, ids) == state(uninterrupted, ids)
        graph.close()
    finally:
        subprocess.run([SCRIPT, "stop", home], check=False)
        shutil.rmtree(home, ignore_errors=True)
