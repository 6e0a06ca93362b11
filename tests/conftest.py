from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from identity.ports import IdentityGraph
from identity.service import IdentityService
from idstitch.channels import with_key
from profiles.ports import ProfileStore
from server.app import RunningServer, create_server
from server.bootstrap import System, build_identity_service, build_system
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


class Profiles:
    """A built system as the profile tests hold it: the profile service, with `ingest` going
    through the Ingest unit of work (ingest/stitch_and_fold.py) as the servicer's does."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.ingest = system.ingest

    def __getattr__(self, name: str) -> object:
        return getattr(self.system.profiles, name)


class Privacy:
    """The privacy service of a built system, with `profiles` as the tests hold them."""

    def __init__(self, profiles: Profiles) -> None:
        self.profiles = profiles

    def __getattr__(self, name: str) -> object:
        return getattr(self.profiles.system.privacy, name)


@pytest.fixture
def make_profiles(
    tmp_path_factory: pytest.TempPathFactory,
    graph_backend: Callable[[Settings, int], IdentityGraph],
    profile_backend: Callable[[Settings, int], ProfileStore],
) -> Iterator[Callable[..., Profiles]]:
    """Builds a fresh system (profile, identity and privacy services) on the backends under test.
    A fixed clock (`clock=`) makes decayed scores and the abandoned cart reproducible."""
    made: list[System] = []

    def make(clock: Callable[[], int] | None = None, **overrides: object) -> Profiles:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        system = build_system(
            s, graph=graph_backend(s, len(made)), store=profile_backend(s, len(made)), clock=clock
        )
        made.append(system)
        return Profiles(system)

    yield make
    for system in made:
        system.close()


@pytest.fixture
def make_privacy(make_profiles: Callable[..., Profiles]) -> Callable[..., Privacy]:
    """A privacy service over a fresh system (same options as make_profiles)."""

    def make(clock: Callable[[], int] | None = None, **overrides: object) -> Privacy:
        return Privacy(make_profiles(clock=clock, **overrides))

    return make


@pytest.fixture
def svc(make_service: Callable[..., IdentityService]) -> IdentityService:
    return make_service()
