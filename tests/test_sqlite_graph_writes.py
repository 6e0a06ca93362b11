"""What the embedded graph writes for a batch: an identifier seen again is written only as much
as it changed (identity.stores.sqlite._sighted) — every row written is a page of the log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.stores.sqlite import SqliteIdentityGraph
from server.bootstrap import System, build_system
from server.config import load_settings
from tests.helpers import ev, stitch


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = build_system(load_settings(data_dir=tmp_path, hmac_secret="test-secret"))
    yield s
    s.close()


def test_an_identifier_seen_again_within_its_times_is_not_written(system: System) -> None:
    stitch(system, [ev("web", ("cookie", "k1"), at=1_000_000), ev("web", ("cookie", "k1"), at=9_000_000)])
    graph = getattr(system.graph, "inner", system.graph)
    assert isinstance(graph, SqliteIdentityGraph)
    with graph._db.write() as db:
        db.execute("CREATE TEMP TABLE updated(key TEXT)")
        db.execute(
            "CREATE TEMP TRIGGER identifier_updated AFTER UPDATE ON main.identifiers "
            "BEGIN INSERT INTO updated VALUES (new.key); END"
        )
    stitch(system, [ev("web", ("cookie", "k1"), at=5_000_000)])  # late: inside what was seen
    with graph._db.write() as db:
        assert db.execute("SELECT count(*) FROM temp.updated").fetchone() == (0,)
    stitch(system, [ev("web", ("cookie", "k1"), at=12_000_000)])  # newer: its last sighting moves
    with graph._db.write() as db:
        assert [k for (k,) in db.execute("SELECT key FROM temp.updated")] == ["cookie:k1"]
    node = system.reads.identity.resolve("cookie", "k1").person.nodes[0]  # type: ignore[union-attr]
    assert (node.first_seen, node.last_seen) == (1_000_000, 12_000_000)
