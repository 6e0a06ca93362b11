"""Real database servers for the tests, started once per test session by the project's own
scripts. Where one cannot start (no Java or Maven here) its tests are skipped with the reason —
except under CI=true, where a missing server fails the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from drivers.cassandra import CassandraConnection, CassandraEndpoint

ROOT = Path(__file__).parents[1]


class LocalServer:
    """A server started by `scripts/NAME/NAME start DIR` on first use, stopped at session end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.script = str(ROOT / f"scripts/{name}/{name}")
        self._address: str | None = None
        self._error: str | None = None
        self._home: str | None = None

    def address(self) -> str:
        """What the start script printed (a URI or host:port)."""
        if self._address is not None:
            return self._address
        if os.environ.get("IDSTITCH_FAST") == "1":  # scripts/test --fast: the tier without JVMs
            pytest.skip(f"the fast tier starts no {self.name} (scripts/test without --fast runs it)")
        if self._error is None:
            self._error = self._start()
        if self._error is not None:
            _unavailable(self._error)
        assert self._address is not None
        return self._address

    def _start(self) -> str | None:
        missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
        if missing:
            return f"{self.name} tests need {' and '.join(missing)} (Java 17 and Maven) to run {self.script}"
        self._home = tempfile.mkdtemp(prefix=f"idstitch-{self.name}-")
        out = subprocess.run([self.script, "start", self._home], capture_output=True, text=True)
        if out.returncode != 0:
            return f"{self.script} start failed: {out.stderr[-2000:]}"
        self._address = out.stdout.strip().splitlines()[-1]
        return None

    def stop(self) -> None:
        if self._home is not None:
            subprocess.run([self.script, "stop", self._home], check=False)
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = self._address = None


NEO4J = LocalServer("neo4j")
CASSANDRA = LocalServer("cassandra")


CLUSTER_SECRET = "cluster-privacy-test-secret-0123456789"


def neo4j_uri() -> str:
    """The bolt URI of the session's Neo4j, started on first use."""
    return NEO4J.address()


def cassandra_address() -> tuple[str, int]:
    """Host and native-protocol port of the session's Cassandra node, started on first use."""
    host, port = CASSANDRA.address().rsplit(":", 1)
    return host, int(port)


def cassandra_endpoint() -> CassandraEndpoint:
    """The session's Cassandra as a store endpoint. One driver connection is held open for the
    session, so stores made and closed by each test do not reconnect."""
    from drivers.cassandra import CassandraConnection, CassandraEndpoint

    host, port = cassandra_address()
    endpoint = CassandraEndpoint(contact_points=(host,), port=port)
    if not _held:
        _held.append(CassandraConnection.open(endpoint))
    return endpoint


_held: list[CassandraConnection] = []


def fresh_namespace() -> str:
    """A profile store namespace no other test uses (no DDL per test)."""
    return f"t{uuid.uuid4().hex[:16]}"


def stop_servers() -> None:
    for conn in _held:
        conn.release()
    _held.clear()
    NEO4J.stop()
    CASSANDRA.stop()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class IdstitchProcess:
    """`idstitch serve` as its own process, configured by a YAML file, on a free port."""

    def __init__(self, config: Path, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "IDSTITCH_LOG_LEVEL": "WARNING", **(env or {})},
        )
        assert self.proc.stdout is not None
        self.key: str | None = None
        line = self.proc.stdout.readline()
        if "an admin key was written to " in line:  # first start of this data directory
            path = line.split("an admin key was written to ", 1)[1].rsplit(" (", 1)[0]
            self.key = Path(path).read_text().strip()
            line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"idstitch did not start: {line}{self.proc.stdout.read()}")
        self.target = line.split("listening on ", 1)[1].split()[0]

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        return out


def start_cluster(
    tmp_path: Path, name: str, count: int = 2, env: Mapping[int, Mapping[str, str]] | None = None
) -> list[IdstitchProcess]:
    """`count` idstitch server processes on one Neo4j graph (namespace `name`, cleared) and one
    Cassandra namespace of their own, each with its own data directory (as on its own machine);
    `env`: extra environment of server n."""
    from identity.stores.neo4j import Neo4jIdentityGraph

    host, port = cassandra_address()
    ns = fresh_namespace()
    graph = Neo4jIdentityGraph(uri=neo4j_uri(), namespace=name)
    graph.clear()
    graph.close()
    servers: list[IdstitchProcess] = []
    try:
        for n in range(count):
            cfg = tmp_path / f"server{n}.yaml"
            cfg.write_text(
                f"data_dir: {tmp_path / f'data{n}'}\nhmac_secret: {CLUSTER_SECRET}\n"
                f"graph: {{type: neo4j, uri: '{neo4j_uri()}', namespace: {name}}}\n"
                f"profiles: {{type: cassandra, contact_points: ['{host}'], port: {port}, "
                f"keyspace: idstitch_test, namespace: {ns}, split_settle_seconds: 1}}\n"
            )
            servers.append(IdstitchProcess(cfg, env=(env or {}).get(n)))
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


def two_systems(tmp_path: Path, graph_ns: str) -> tuple[Any, Any]:
    """Two in-process systems (server.bootstrap.System) as two servers would build them: one Neo4j
    graph (namespace `graph_ns`, cleared), one Cassandra namespace of their own, data directories
    apart. No background thread runs: a test drives them."""
    from identity.stores.neo4j import Neo4jIdentityGraph
    from server.bootstrap import build_system
    from server.config import load_settings

    host, port = cassandra_address()
    ns = fresh_namespace()
    Neo4jIdentityGraph(uri=neo4j_uri(), namespace=graph_ns).clear()
    profiles = {"type": "cassandra", "contact_points": [host], "port": port, "keyspace": "idstitch_test",
                "namespace": ns}  # fmt: skip
    a, b = (
        build_system(
            load_settings(data_dir=tmp_path / name, hmac_secret=CLUSTER_SECRET, profiles=profiles),
            graph=Neo4jIdentityGraph(uri=neo4j_uri(), namespace=graph_ns),
        )
        for name in ("a", "b")
    )
    return a, b
