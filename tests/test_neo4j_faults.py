"""Neo4j stopped in the middle of an ingest: callers get UNAVAILABLE, health turns NOT_SERVING,
service resumes by itself when Neo4j is back, and retried batches give the graph an
uninterrupted run gives. Uses a Neo4j of its own, stopped and started by scripts/neo4j."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from identity.stores.neo4j import Neo4jIdentityGraph
from server.bootstrap import build_system
from server.config import load_settings
from tests.faults import free_port, outage_during_ingest
from tests.helpers import state
from tests.servers import ROOT, IdstitchProcess, neo4j_uri
from tests.test_neo4j_concurrency import (
    ATTACH_NEW_YAML,
    SECRET,
    graph_invariants,
    population,
    replay,
    universe,
)

SCRIPT = str(ROOT / "scripts/neo4j/neo4j")


@pytest.mark.e2e
def test_neo4j_going_away_mid_ingest_is_unavailable_then_recovers_to_the_same_graph(tmp_path: Path):
    neo4j_uri()  # skips (or fails under CI) when no Neo4j can run here
    home, port = tempfile.mkdtemp(prefix="idstitch-neo4j-fault-"), free_port()
    subprocess.run([SCRIPT, "start", home, str(port)], check=True, capture_output=True)
    events = population(households=True, persons=60)
    batches = [events[i : i + 20] for i in range(0, len(events), 20)]
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path / 'data'}\nhmac_secret: {SECRET}\n{ATTACH_NEW_YAML}"
        f"graph: {{type: neo4j, uri: 'bolt://127.0.0.1:{port}', namespace: Fault, "
        "connection_timeout_seconds: 1, max_transaction_retry_seconds: 1}\n"
    )
    server = IdstitchProcess(cfg)
    try:
        failures, health_seen = outage_during_ingest(server, batches, SCRIPT, home, port)
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
        view = build_system(load_settings(data_dir=tmp_path / "view", hmac_secret=SECRET), graph=graph)
        uninterrupted = replay(events, [[e.event_id for e in b] for b in batches], tmp_path / "seq")
        ids = universe(events)
        assert state(view, ids) == state(uninterrupted, ids)
        graph.close()
    finally:
        subprocess.run([SCRIPT, "stop", home], check=False)
        shutil.rmtree(home, ignore_errors=True)
