"""A store error in a background loop or an adapter method the error translation missed: found by
bench.growth on Neo4j + Cassandra, where a Cassandra timeout in the change feed's `due` ended the
server's sweeper thread for good (the outbox and the feed's timed changes were never swept again)."""

from __future__ import annotations

import inspect
import threading
from types import SimpleNamespace

import pytest

from changes.stores.cassandra import CassandraChangeFeed
from privacy.stores.cassandra import CassandraPrivacyRecords
from profiles.stores.cassandra import CassandraProfileStore
from server.app import _sweep
from server.config import ChangeSettings


def test_a_sweep_round_that_fails_does_not_end_the_sweeps() -> None:
    stop = threading.Event()
    rounds: list[int] = []

    def outbox() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("a driver error no adapter translated")
        stop.set()

    system = SimpleNamespace(changes=None, outbox=outbox)
    done = threading.Thread(target=_sweep, args=(system, ChangeSettings(sweep_seconds=0.01), stop))
    done.start()
    done.join(timeout=10)
    assert not done.is_alive()
    assert rounds == [0, 1]  # the round after the failure ran


@pytest.mark.parametrize("adapter", [CassandraChangeFeed, CassandraProfileStore, CassandraPrivacyRecords])
def test_every_public_method_of_a_cassandra_adapter_turns_driver_errors_into_unavailable(
    adapter: type,
) -> None:
    methods = {
        name: fn
        for name, fn in vars(adapter).items()
        if inspect.isfunction(fn) and (name == "__init__" or not name.startswith("_"))
    }
    assert methods
    untranslated = sorted(name for name, fn in methods.items() if not hasattr(fn, "__wrapped__"))
    assert untranslated == []
