"""Every backend of every store port, in one place: the contract suites (tests/contract/) and
the fixtures that build systems run against each backend listed here, so a new backend is one
entry in one of these maps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from changes.ports import ChangeFeed
from identity.ports import IdentityGraph
from privacy.records import PrivacyRecords
from profiles.ports import ProfileStore
from server.config import Settings
from tests.servers import cassandra_endpoint, fresh_namespace, neo4j_uri

MakeFeed = Callable[..., ChangeFeed]
MakeRecords = Callable[[], PrivacyRecords]


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


def _memory_graph(settings: Settings, slot: int) -> IdentityGraph:
    from identity.stores.memory import MemoryIdentityGraph

    return MemoryIdentityGraph()


# Every identity graph backend the contract suite runs against. A graph is made from the test's
# settings and a slot number, distinct for graphs alive at the same time.
GRAPH_BACKENDS: dict[str, Callable[[Settings, int], IdentityGraph]] = {
    "memory": _memory_graph,
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


def _sqlite_feed(tmp: Path) -> MakeFeed:
    from changes.stores.sqlite import SqliteChangeFeed

    return lambda **_: SqliteChangeFeed(tmp / "changes.db")


def _cassandra_feed(tmp: Path) -> MakeFeed:
    from changes.stores.cassandra import CassandraChangeFeed

    namespace = fresh_namespace()
    return lambda **kw: CassandraChangeFeed(
        cassandra_endpoint(), keyspace="idstitch_test", namespace=namespace, settle_seconds=0.05, **kw
    )


# Every change feed backend the feed contract suite runs against: a factory of openers of one
# fresh namespace.
FEED_BACKENDS: dict[str, Callable[[Path], MakeFeed]] = {"sqlite": _sqlite_feed, "cassandra": _cassandra_feed}


def _sqlite_records(tmp: Path) -> MakeRecords:
    from privacy.stores.sqlite import SqlitePrivacyRecords

    return lambda: SqlitePrivacyRecords(tmp / "privacy.db")


def _cassandra_records(tmp: Path) -> MakeRecords:
    from privacy.stores.cassandra import CassandraPrivacyRecords

    namespace = fresh_namespace()
    return lambda: CassandraPrivacyRecords(
        cassandra_endpoint(), keyspace="idstitch_test", namespace=namespace
    )


# Every privacy records backend the records contract suite runs against (same shape).
RECORDS_BACKENDS: dict[str, Callable[[Path], MakeRecords]] = {
    "sqlite": _sqlite_records,
    "cassandra": _cassandra_records,
}
