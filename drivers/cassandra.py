"""Talking to Cassandra: the connection, the schema, the prepared statements, and the one place
driver failures become StoreUnavailable (gRPC UNAVAILABLE, retryable).

Only keyspace names and the replication map are written into CQL text — they come from the
operator's configuration and are checked against strict patterns here; every value the service
handles (person ids, event ids, facts, states) travels as a bound parameter of a prepared statement.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar

from common.errors import StoreMisconfigured, StoreUnavailable

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
REPLICATION_WORD = re.compile(r"^[A-Za-z0-9_.]{1,100}$")

P = ParamSpec("P")
R = TypeVar("R")


def unavailable_on_driver_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turns a node that is down, slow or unreachable into StoreUnavailable. A write that timed
    out may or may not have been applied; every write of the store is safe to retry."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from cassandra import DriverException, RequestExecutionException
        from cassandra.cluster import NoHostAvailable

        try:
            return fn(*args, **kwargs)
        except (NoHostAvailable, RequestExecutionException, DriverException) as e:
            raise StoreUnavailable(f"cassandra unavailable: {e.__class__.__name__}") from e

    return wrapper


C = TypeVar("C", bound=type)


def translates_driver_errors(cls: C) -> C:
    """unavailable_on_driver_errors on every public method of an adapter class, and on its
    construction: a store method left out would let a timed-out node surface as INTERNAL, or end
    the background thread that called it."""
    for name, fn in list(vars(cls).items()):  # functions only: a staticmethod wrapped would bind
        if inspect.isfunction(fn) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, unavailable_on_driver_errors(fn))
    return cls


@dataclass(frozen=True, slots=True)
class CassandraEndpoint:
    contact_points: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    local_datacenter: str | None = None
    username: str | None = None
    password: str | None = None
    consistency: str = "LOCAL_QUORUM"
    serial_consistency: str = "LOCAL_SERIAL"
    connect_timeout: float = 5.0
    request_timeout: float = 5.0


class CassandraConnection:
    """One driver Cluster and Session, shared by every store of the process that names the same
    endpoint (the driver keeps a connection pool per node; one is enough)."""

    _shared: ClassVar[dict[CassandraEndpoint, tuple[CassandraConnection, int]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, endpoint: CassandraEndpoint) -> None:
        from cassandra import ConsistencyLevel, ProtocolVersion
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
        from cassandra.query import tuple_factory

        profile = ExecutionProfile(
            # Token-aware: each statement goes straight to a replica of its partition.
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=endpoint.local_datacenter)
            ),
            consistency_level=ConsistencyLevel.name_to_value[endpoint.consistency],
            serial_consistency_level=ConsistencyLevel.name_to_value[endpoint.serial_consistency],
            request_timeout=endpoint.request_timeout,
            # Plain tuples: the default builds a namedtuple class per result, which here doubled
            # the client's CPU per read (and GetProfile's latency at 8 clients).
            row_factory=tuple_factory,
        )
        auth = _auth(endpoint)
        self.endpoint = endpoint
        self.cluster = Cluster(
            list(endpoint.contact_points),
            port=endpoint.port,
            auth_provider=auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            # v4, not v5: v5's frame checksums are computed in Python by this driver, about 50 µs
            # per request of the server's CPU; v4 frames carry no checksum (TCP's still applies).
            protocol_version=ProtocolVersion.V4,
            connect_timeout=endpoint.connect_timeout,
            # A node that went away is retried every second, so service resumes soon after it is back.
            reconnection_policy=_quick_reconnection(),
        )
        try:
            self.session = self.cluster.connect()
        except Exception:
            self.cluster.shutdown()
            if endpoint.local_datacenter:
                _check_datacenter(endpoint)
            raise
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="idstitch-cassandra")
        """For independent multi-round-trip steps (a batch's merges) run side by side."""
        self._prepared: dict[str, Any] = {}
        self._schemas: set[tuple[str, tuple[str, ...]]] = set()

    @classmethod
    @unavailable_on_driver_errors
    def open(cls, endpoint: CassandraEndpoint) -> CassandraConnection:
        with cls._lock:
            conn, users = cls._shared.get(endpoint, (None, 0))
            if conn is None:
                conn = cls(endpoint)
            cls._shared[endpoint] = (conn, users + 1)
            return conn

    @classmethod
    def for_store(
        cls,
        endpoint: CassandraEndpoint,
        *,
        keyspace: str,
        replication: Mapping[str, str | int] | None,
        namespace: str,
        tables: Iterable[str],
    ) -> CassandraConnection:
        """The shared connection, with a store's tables made (idempotently) in `keyspace`; a
        store's rows are keyed by `namespace`, checked here."""
        if not NAME.match(namespace):
            raise ValueError("namespace: lower-case letters, digits and underscores, starting with a letter")
        conn = cls.open(endpoint)
        conn.ensure_schema(
            keyspace, replication or {"class": "SimpleStrategy", "replication_factor": 1}, tables
        )
        return conn

    def release(self) -> None:
        with self._lock:
            conn, users = self._shared[self.endpoint]
            if users > 1:
                self._shared[self.endpoint] = (conn, users - 1)
                return
            del self._shared[self.endpoint]
        self.pool.shutdown(wait=False)
        self.cluster.shutdown()

    def ensure_schema(
        self, keyspace: str, replication: Mapping[str, str | int], tables: Iterable[str]
    ) -> None:
        """Creates the keyspace and tables if missing (idempotent; once per process and keyspace)."""
        if not NAME.match(keyspace):
            raise ValueError("keyspace: lower-case letters, digits and underscores, starting with a letter")
        tables = tuple(tables)
        if (keyspace, tables) in self._schemas:  # each store's tables once per process
            return
        from cassandra.protocol import RequestValidationException

        literal = replication_literal(replication)
        try:
            self.session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {literal}")
        except RequestValidationException as e:  # a replication the cluster refuses
            raise StoreMisconfigured(
                f"cassandra: keyspace {keyspace} cannot be made with replication {literal}: "
                f"{getattr(e, 'message', '') or type(e).__name__} (datacenters of this cluster: "
                f"{', '.join(self._datacenters()) or 'unknown'})"
            ) from None
        for table in tables:
            self.session.execute(table.format(ks=keyspace))
        self._schemas.add((keyspace, tables))

    def _datacenters(self) -> list[str]:
        return sorted({h.datacenter for h in self.cluster.metadata.all_hosts() if h.datacenter})

    def prepare(self, cql: str) -> Any:
        stmt = self._prepared.get(cql)
        if stmt is None:
            stmt = self._prepared[cql] = self.session.prepare(cql)
        return stmt

    def run_all(self, statements: Sequence[tuple[Any, Sequence[Any]]]) -> list[Any]:
        """Runs the statements concurrently and returns their result sets, in order."""
        futures = [self.session.execute_async(stmt, params) for stmt, params in statements]
        return [f.result() for f in futures]

    def run_unlogged(self, statements: Sequence[tuple[Any, Sequence[Any]]], per_request: int = 10) -> None:
        """Unconditional writes, `per_request` to an unlogged batch, the batches concurrently: the
        Python driver's CPU per request, not the node, is what many small writes cost. Keep
        `per_request` at or under 10 for writes to different partitions (Cassandra warns of an
        unlogged batch over more, `unlogged_batch_across_partitions_warn_threshold`); writes to
        one partition may take more, under the 5 KB batch size warning."""
        from cassandra.query import BatchStatement, BatchType

        futures = []
        for i in range(0, len(statements), per_request):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for stmt, params in statements[i : i + per_request]:
                batch.add(stmt, params)
            futures.append(self.session.execute_async(batch))
        for f in futures:
            f.result()


def column(rs: Any, row: Sequence[Any], name: str) -> Any:
    """A column of a tuple row by name (the rows of a conditional statement that did not apply
    carry the current values, in an order the statement does not fix)."""
    return row[rs.column_names.index(name)]


def replication_literal(replication: Mapping[str, str | int]) -> str:
    items = []
    for key, value in replication.items():
        if not REPLICATION_WORD.match(key) or not REPLICATION_WORD.match(str(value)):
            raise ValueError(f"replication: {key!r}: {value!r} is not a plain word or number")
        items.append(f"'{key}': '{value}'")
    return "{" + ", ".join(items) + "}"


def _quick_reconnection() -> Any:
    from cassandra.policies import ConstantReconnectionPolicy

    return ConstantReconnectionPolicy(delay=1.0, max_attempts=None)


def _check_datacenter(endpoint: CassandraEndpoint) -> None:
    """A connection that failed with a local datacenter named: if the cluster has no such
    datacenter, say so and list the ones it has (asked through a connection that names none)."""
    from cassandra.cluster import Cluster

    probe = Cluster(
        list(endpoint.contact_points),
        port=endpoint.port,
        auth_provider=_auth(endpoint),
        connect_timeout=endpoint.connect_timeout,
        protocol_version=4,
    )
    try:
        probe.connect()
        found = sorted({h.datacenter for h in probe.metadata.all_hosts() if h.datacenter})
    except Exception:
        return  # not reachable at all: the original error says so
    finally:
        probe.shutdown()
    if found and endpoint.local_datacenter not in found:
        raise StoreMisconfigured(
            f"cassandra: local_datacenter {endpoint.local_datacenter!r} is not a datacenter of this "
            f"cluster (it has: {', '.join(found)})"
        )


def _auth(endpoint: CassandraEndpoint) -> Any:
    from cassandra.auth import PlainTextAuthProvider

    return PlainTextAuthProvider(endpoint.username, endpoint.password or "") if endpoint.username else None
