"""A Cassandra configuration the cluster cannot honour stops the server at start with one line
that names what to fix — never a traceback, never a bare NoHostAvailable."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from common.errors import StoreMisconfigured
from drivers.cassandra import CassandraEndpoint
from profiles.stores.cassandra import CassandraProfileStore
from tests.servers import ROOT, cassandra_address, cassandra_endpoint


def test_a_local_datacenter_the_cluster_lacks_is_named_with_the_ones_it_has():
    host, port = cassandra_address()
    wrong = CassandraEndpoint(contact_points=(host,), port=port, local_datacenter="dc1", connect_timeout=3)
    with pytest.raises(StoreMisconfigured) as err:
        CassandraProfileStore(wrong, keyspace="idstitch_test")
    assert "'dc1' is not a datacenter of this cluster (it has: datacenter1)" in str(err.value)


def test_a_replication_the_cluster_refuses_is_one_line_naming_the_keyspace():
    keyspace = f"bad_{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreMisconfigured) as err:
        CassandraProfileStore(
            cassandra_endpoint(),
            keyspace=keyspace,
            replication={"class": "NetworkTopologyStrategy", "dc1": 3},
        )
    message = str(err.value)
    assert message.startswith(f"cassandra: keyspace {keyspace} cannot be made with replication")
    assert "datacenter1" in message and "\n" not in message


def test_the_server_says_why_it_cannot_start(tmp_path: Path):
    host, port = cassandra_address()
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path / 'data'}\nhmac_secret: s-0123456789abcdef0123456789\n"
        f"profiles: {{type: cassandra, contact_points: ['{host}'], port: {port}, local_datacenter: dc1, "
        "connect_timeout_seconds: 3}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--config", str(cfg), "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "idstitch: cannot start: cassandra: local_datacenter 'dc1' is not a datacenter" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
