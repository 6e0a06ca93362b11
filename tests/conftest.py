from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import settings as hypothesis_settings

from identity.ports import IdentityGraph
from idstitch.channels import with_key
from profiles.ports import ProfileStore
from server.app import RunningServer, create_server
from server.bootstrap import System, build_system
from server.config import Settings, load_settings
from tests.backends import GRAPH_BACKENDS, PROFILE_BACKENDS
from tests.servers import stop_servers

# CI runs the property tests' examples from a fixed seed, so that a red run is reproducible;
# locally, hypothesis searches afresh (and keeps what it finds in .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


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
) -> Iterator[Callable[..., System]]:
    """Builds a fresh system (own data directory) with its graph on the backend under test and
    its profiles embedded: the stitching tests go through the production Ingest use case."""
    made: list[System] = []

    def make(**overrides: object) -> System:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        system = build_system(s, graph=graph_backend(s, len(made)))
        made.append(system)
        return system

    yield make
    for system in made:
        system.close()


@pytest.fixture(params=sorted(PROFILE_BACKENDS))
def profile_backend(request: pytest.FixtureRequest) -> Callable[[Settings, int], ProfileStore]:
    return PROFILE_BACKENDS[request.param]


@pytest.fixture
def make_profiles(
    tmp_path_factory: pytest.TempPathFactory,
    graph_backend: Callable[[Settings, int], IdentityGraph],
    profile_backend: Callable[[Settings, int], ProfileStore],
) -> Iterator[Callable[..., System]]:
    """Builds a fresh system (profile, identity and privacy services) on the backends under test.
    A fixed clock (`clock=`) makes decayed scores and the abandoned cart reproducible."""
    made: list[System] = []

    def make(clock: Callable[[], int] | None = None, **overrides: object) -> System:
        data = tmp_path_factory.mktemp("data")
        s = load_settings(data_dir=data, hmac_secret="test-secret", **overrides)
        system = build_system(
            s, graph=graph_backend(s, len(made)), store=profile_backend(s, len(made)), clock=clock
        )
        made.append(system)
        return system

    yield make
    for system in made:
        system.close()


@pytest.fixture
def svc(make_service: Callable[..., System]) -> System:
    return make_service()
