from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from identity.ports import IdentityGraph
from identity.service import IdentityService
from server.bootstrap import build_identity_service
from server.config import Settings, load_settings


def _sqlite_graph(settings: Settings) -> IdentityGraph:
    from identity.stores.sqlite import SqliteIdentityGraph

    return SqliteIdentityGraph(settings.data_dir / "graph.db")


# Every identity graph backend the contract suite runs against; later backends add a line here.
GRAPH_BACKENDS: dict[str, Callable[[Settings], IdentityGraph]] = {"sqlite": _sqlite_graph}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", port=0)


@pytest.fixture(params=sorted(GRAPH_BACKENDS))
def graph_backend(request: pytest.FixtureRequest) -> Callable[[Settings], IdentityGraph]:
    return GRAPH_BACKENDS[request.param]


@pytest.fixture
def make_service(
    tmp_path_factory: pytest.TempPathFactory, graph_backend: Callable[[Settings], IdentityGraph]
) -> Iterator[Callable[..., IdentityService]]:
    """Builds a fresh identity service (own data directory) on the backend under test."""
    made: list[IdentityService] = []

    def make(**overrides: object) -> IdentityService:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        svc = build_identity_service(s, graph_backend(s))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.graph.close()


@pytest.fixture
def svc(make_service: Callable[..., IdentityService]) -> IdentityService:
    return make_service()
