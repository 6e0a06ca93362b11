"""Cassandra stopped in the middle of an ingest: callers get UNAVAILABLE, health turns
NOT_SERVING, service resumes by itself when the node is back, and the retried batches give the
very profiles an uninterrupted run gives. Uses a node of its own, stopped and started by
scripts/cassandra."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from drivers.cassandra import CassandraEndpoint
from idstitch.channels import with_key
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from profiles.stores.cassandra import CassandraProfileStore
from server.app import create_server
from server.bootstrap import build_system
from server.config import load_settings
from tests.faults import free_port, outage_during_ingest
from tests.helpers import state
from tests.profile_data import assert_same_profile
from tests.servers import ROOT, IdstitchProcess, cassandra_address
from tests.test_cassandra_concurrency import shopping
from tests.test_neo4j_concurrency import SECRET, universe

# The populations here attach a new browser on one weak link, as before pending links were the
# default (stitching.weak_links.attach_new).
ATTACH_NEW = {"weak_links": {"attach_new": True}}
ATTACH_NEW_YAML = "stitching: {weak_links: {attach_new: true}}\n"

SCRIPT = str(ROOT / "scripts/cassandra/cassandra")


@pytest.mark.e2e
def test_cassandra_going_away_mid_ingest_is_unavailable_then_recovers_to_the_same_profiles(tmp_path: Path):
    cassandra_address()  # skips (or fails under CI) when no Cassandra can run here
    home, port = tempfile.mkdtemp(prefix="idstitch-cassandra-fault-"), free_port()
    subprocess.run([SCRIPT, "start", home, str(port)], check=True, capture_output=True)
    events = shopping(60)
    batches = [events[i : i + 20] for i in range(0, len(events), 20)]
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path / 'data'}\nhmac_secret: {SECRET}\n{ATTACH_NEW_YAML}"
        f"profiles: {{type: cassandra, port: {port}, keyspace: fault, "
        "connect_timeout_seconds: 1, request_timeout_seconds: 1}\n"
    )
    try:
        server = IdstitchProcess(cfg)
    except BaseException:  # the test's own Cassandra goes with it
        subprocess.run([SCRIPT, "stop", home], check=False)
        raise
    try:
        failures, health_seen = outage_during_ingest(server, batches, SCRIPT, home, port)
    finally:
        server.stop()

    try:
        assert health_seen == [
            health_pb2.HealthCheckResponse.NOT_SERVING,
            health_pb2.HealthCheckResponse.SERVING,
        ]
        assert failures and set(failures) == {grpc.StatusCode.UNAVAILABLE}
        settings = load_settings(data_dir=tmp_path / "data", hmac_secret=SECRET, stitching=ATTACH_NEW)
        store = CassandraProfileStore(CassandraEndpoint(port=port), keyspace="fault")
        got = build_system(settings, store=store)
        uninterrupted = create_server(
            load_settings(data_dir=tmp_path / "ref", hmac_secret=SECRET, port=0, stitching=ATTACH_NEW)
        )
        try:
            with grpc.insecure_channel(f"127.0.0.1:{uninterrupted.port}") as raw:
                stub = pb_grpc.IdentityServiceStub(
                    with_key(raw, (tmp_path / "ref/admin.key").read_text().strip())
                )
                for batch in batches:
                    stub.Ingest(pb.IngestRequest(events=batch))
            ids = universe(events)
            assert state(got, ids) == state(uninterrupted.system, ids)
            persons = {p for p in state(got, ids).values() if isinstance(p, str) and p != "shared"}
            assert len(persons) == 60
            for pid in persons:
                ours, theirs = got.store.events_of(pid), uninterrupted.system.store.events_of(pid)
                assert [e.facts for e in ours] == [e.facts for e in theirs]  # nothing lost, nothing twice
                assert_same_profile(got.store.get(pid), uninterrupted.system.store.get(pid))  # type: ignore[arg-type]
        finally:
            uninterrupted.stop(0)
            got.close()
    finally:
        subprocess.run([SCRIPT, "stop", home], check=False)
        shutil.rmtree(home, ignore_errors=True)
