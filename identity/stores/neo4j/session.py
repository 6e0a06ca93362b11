"""One Neo4j database as the graph's stores see it: the driver, namespaced labels, and transactions
retried through transient failures — every driver error leaves here as StoreUnavailable."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any

from common.errors import StoreUnavailable
from identity.stores.neo4j.cypher import SCHEMA

NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$|^$")


class Neo4jSession:
    def __init__(
        self,
        *,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        namespace: str = "",
        connection_timeout: float = 5.0,
        max_transaction_retry_time: float = 15.0,
    ) -> None:
        import neo4j

        if not NAMESPACE.match(namespace):
            raise ValueError("namespace must be letters, digits and underscores, starting with a letter")
        self._neo4j = neo4j
        auth = (user, password) if password else None
        self._driver = neo4j.GraphDatabase.driver(
            uri,
            auth=auth,
            connection_timeout=connection_timeout,
            # Schema notices ("property key does not exist" on a new graph) would flood the log.
            notifications_min_severity="OFF",
        )
        self._database = database
        self._max_retry = max_transaction_retry_time
        # Labels cannot be parameters; the namespace is validated above and is the only text spliced.
        self._labels = {
            name: f"{namespace}{name}"
            for name in ("Identifier", "IdentifierLock", "Person", "Alias", "SharedUse", "Event", "Outbox")
        }
        self.run(self._create_schema)

    def q(self, cypher: str) -> str:
        return cypher.format(**self._labels)

    def run(self, fn: Callable[..., Any], *args: Any, write: bool = True, auto: bool = False) -> Any:
        """Runs `fn(tx, *args)` in a transaction, retrying transient failures (deadlocks, a
        leader switch, a dropped connection) from the start until `max_transaction_retry_time`;
        then StoreUnavailable. Our own loop rather than the driver's: its backoff starts at a
        second, which a detected deadlock between two batches does not need. Re-running a batch
        whose commit outcome was unknown is safe: its event ids make it a no-op the second time.

        With `auto`, `fn(session, *args)` runs one statement in a transaction of its own (an
        auto-commit query): for a read of one statement, an explicit BEGIN and COMMIT doubled
        the CPU a Resolve cost both the driver and Neo4j (see read)."""
        neo4j = self._neo4j
        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        deadline = time.monotonic() + self._max_retry
        delay = 0.005
        while True:
            try:
                with self._driver.session(database=self._database, default_access_mode=mode) as session:
                    if auto:
                        return fn(session, *args)
                    with session.begin_transaction() as tx:
                        result = fn(tx, *args)
                        tx.commit()
                        return result
            except (
                neo4j.exceptions.TransientError,
                neo4j.exceptions.ServiceUnavailable,
                neo4j.exceptions.SessionExpired,
                neo4j.exceptions.ConstraintError,  # a concurrent server created the same event first
            ) as e:
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailable(f"neo4j unavailable: {e.__class__.__name__}") from e
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.5)
            except neo4j.exceptions.DriverError as e:
                raise StoreUnavailable(f"neo4j driver: {e.__class__.__name__}") from e

    def read(self, cypher: str, **params: Any) -> Any:
        """The single record of a one-statement read, or None. Auto-committed: on a warm node a
        lookup by key cost 300 us of driver CPU and 225-390 us of Neo4j's this way, 460-570 and
        510-1,300 us inside an explicit transaction (2,000 calls each, alternating)."""
        return self.run(lambda s: s.run(self.q(cypher), **params).single(), write=False, auto=True)

    def read_all(self, cypher: str, **params: Any) -> list[Any]:
        """Every record of a one-statement read (auto-committed, as `read`)."""
        return self.run(lambda s: list(s.run(self.q(cypher), **params)), write=False, auto=True)

    def _create_schema(self, tx: Any) -> None:
        for cypher in SCHEMA:
            tx.run(self.q(cypher)).consume()

    def clear(self) -> None:
        """Deletes every node of this namespace. For tests and benchmarks that reuse a namespace."""
        with self._driver.session(database=self._database) as session:
            for label in self._labels.values():
                session.run(
                    f"MATCH (n:`{label}`) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 5000 ROWS"
                ).consume()

    def close(self) -> None:
        self._driver.close()
