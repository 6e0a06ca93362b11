from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from identity.ports import IdentityGraph
from identity.service import IdentityService
from profiles.ports import ProfileStore
from profiles.privacy import PrivacyService
from profiles.service import ProfileService
from server.app import RunningServer, create_server
from server.bootstrap import (
    build_identity_service,
    build_privacy_records,
    build_privacy_service,
    build_profile_service,
)
from server.client import with_key
from server.config import Settings, load_settings
from tests.servers import cassandra_endpoint, fresh_namespace, neo4j_uri, stop_servers


def _sqlite_graph(settings: Settings, slot: int) -> IdentityGraph:
    from identity.stores.sqlite import SqliteIdentityGraph

    return SqliteIdentityGraph(settings.data_dir / "graph.db")


def _neo4j_graph(settings: Settings, slot: int) -> IdentityGraph:
    """An empty graph in the session's Neo4j: namespace `T<slot>`, cleared before use, so two
    graphs alive in one test use two slots."""
    from identity.stores.neo4j import Neo4jIdentityGraph

    graph = Neo4jIdentityGraph(uri=neo4j_uri(), namespace=f"T{slot}")
    graph.clear()
    return graph


# Every identity graph backend the contract suite runs against. A graph is made from the test's
# settings and a slot number, distinct for graphs alive at the same time.
GRAPH_BACKENDS: dict[str, Callable[[Settings, int], IdentityGraph]] = {
    "sqlite": _sqlite_graph,
    "neo4j": _neo4j_graph,
}


def _sqlite_profiles(settings: Settings, slot: int) -> ProfileStore:
    from profiles.stores.sqlite import SqliteProfileStore

    return SqliteProfileStore(settings.data_dir / "profiles.db")


def _cassandra_profiles(settings: Settings, slot: int) -> ProfileStore:
    """An empty store in the session's Cassandra: a namespace of its own (no DDL per test)."""
    from profiles.stores.cassandra import CassandraProfileStore

    return CassandraProfileStore(cassandra_endpoint(), keyspace="idstitch_test", namespace=fresh_namespace())


# Every profile store backend the profile contract suite runs against (same shape as above).
PROFILE_BACKENDS: dict[str, Callable[[Settings, int], ProfileStore]] = {
    "sqlite": _sqlite_profiles,
    "cassandra": _cassandra_profiles,
}


@pytest.fixture(scope="session", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    stop_servers()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", port=0)


@pytest.fixture
def server(settings: Settings) -> Iterator[RunningServer]:
    """The whole gRPC server on a free port, embedded stores in the test's directory."""
    running = create_server(settings)
    yield running
    running.stop(0)


@pytest.fixture
def channel(server: RunningServer, settings: Settings) -> Iterator[grpc.Channel]:
    """A channel to `server` carrying the admin key its first start wrote."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield with_key(ch, (settings.data_dir / "admin.key").read_text().strip())


@pytest.fixture(params=sorted(GRAPH_BACKENDS))
def graph_backend(request: pytest.FixtureRequest) -> Callable[[Settings, int], IdentityGraph]:
    return GRAPH_BACKENDS[request.param]


@pytest.fixture
def make_service(
    tmp_path_factory: pytest.TempPathFactory, graph_backend: Callable[[Settings, int], IdentityGraph]
) -> Iterator[Callable[..., IdentityService]]:
    """Builds a fresh identity service (own data directory) on the backend under test."""
    made: list[IdentityService] = []

    def make(**overrides: object) -> IdentityService:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        svc = build_identity_service(s, graph_backend(s, len(made)))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.graph.close()


@pytest.fixture(params=sorted(PROFILE_BACKENDS))
def profile_backend(request: pytest.FixtureRequest) -> Callable[[Settings, int], ProfileStore]:
    return PROFILE_BACKENDS[request.param]


@pytest.fixture
def make_profiles(
    tmp_path_factory: pytest.TempPathFactory,
    graph_backend: Callable[[Settings, int], IdentityGraph],
    profile_backend: Callable[[Settings, int], ProfileStore],
) -> Iterator[Callable[..., ProfileService]]:
    """Builds a fresh profile service (and identity service) on the backends under test. A fixed
    clock (`clock=`) makes decayed scores and the abandoned cart reproducible."""
    made: list[ProfileService] = []

    def make(clock: Callable[[], int] | None = None, **overrides: object) -> ProfileService:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        identity = build_identity_service(s, graph_backend(s, len(made)), build_privacy_records(s))
        svc = build_profile_service(s, identity, profile_backend(s, len(made)), clock=clock)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.identity.graph.close()
        svc.store.close()
        if svc.identity.privacy is not None:
            svc.identity.privacy.close()


@pytest.fixture
def make_privacy(make_profiles: Callable[..., ProfileService]) -> Callable[..., PrivacyService]:
    """A privacy service over a fresh profile service (same options as make_profiles)."""

    def make(clock: Callable[[], int] | None = None, **overrides: object) -> PrivacyService:
        profiles = make_profiles(clock=clock, **overrides)
        return build_privacy_service(load_settings(**overrides), profiles, clock=clock)

    return make


@pytest.fixture
def svc(make_service: Callable[..., IdentityService]) -> IdentityService:
    return make_service()
