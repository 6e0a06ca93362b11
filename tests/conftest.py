from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from identity.ports import IdentityGraph
from identity.service import IdentityService
from server.bootstrap import build_identity_service
from server.config import Settings, load_settings
from tests.servers import neo4j_uri, stop_neo4j


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


@pytest.fixture(scope="session", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    stop_neo4j()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", port=0)


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


@pytest.fixture
def svc(make_service: Callable[..., IdentityService]) -> IdentityService:
    return make_service()
