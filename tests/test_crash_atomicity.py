"""A killed process leaves every batch either fully applied or absent in each store, and a retry
completes it — profiles included. The writer is a real process stopped with SIGKILL at an
arbitrary moment of its ingest loop (between or inside the two stores' commits)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from profiles.reader import ProfileKey
from profiles.state import ProfileState
from server.bootstrap import build_system
from server.config import load_settings
from tests.profile_data import assert_same_profile

BATCH = 300

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from server.bootstrap import build_system
    from server.config import load_settings
    from tests.test_crash_atomicity import batch

    settings = load_settings(data_dir=Path(sys.argv[1]), hmac_secret="crash")
    system = build_system(settings)
    n = 0
    while True:
        system.ingest(batch(n))
        print(n, flush=True)
        n += 1
    """
)


def batch(n: int) -> list:
    from identity.service import RawEvent
    from profiles.events import EventFacts, Item

    # Every event merges persons of earlier batches, so a half-applied batch would show.
    return [
        (
            RawEvent(
                f"b{n}-{i}",
                (n * BATCH + i) * 1000,
                "web",
                "product_view",
                [
                    ("customer_id", f"C{(n * BATCH + i) % 500}"),
                    ("cookie", f"k{n}-{i}"),
                    ("cookie", f"k{max(n - 1, 0)}-{i}"),
                ],
            ),
            EventFacts(
                f"b{n}-{i}",
                (n * BATCH + i) * 1000,
                "web",
                "product_view",
                product=Item(sku=f"s{i}", category=f"c{n}"),
            ),
        )
        for i in range(BATCH)
    ]


def whole_batches(db: sqlite3.Connection, table: str) -> dict[str, int]:
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    per_batch = dict(
        db.execute(f"SELECT substr(event_id, 1, instr(event_id, '-') - 1), count(*) FROM {table} GROUP BY 1")
    )
    assert all(count == BATCH for count in per_batch.values()), per_batch
    return per_batch


def test_a_killed_writer_leaves_whole_batches_and_a_retry_completes_them(tmp_path: Path):
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert proc.stdout is not None
    committed = -1
    while committed < 3:
        line = proc.stdout.readline()
        assert line, "writer died before committing three batches"
        committed = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    db = sqlite3.connect(data / "graph.db")
    per_batch = whole_batches(db, "events")
    assert {f"b{n}" for n in range(committed + 1)} <= set(per_batch)
    with sqlite3.connect(data / "profiles.db") as pdb:
        # The profile store commits after the graph: it may be one batch behind, never ahead.
        assert set(whole_batches(pdb, "profile_events")) <= set(per_batch)
    assert db.execute(
        "SELECT count(*) FROM identifiers i LEFT JOIN persons p ON p.id = i.person_id "
        "WHERE i.shared = 0 AND p.id IS NULL"
    ).fetchone() == (0,)
    db.close()

    settings = load_settings(data_dir=data, hmac_secret="crash")
    system = build_system(settings)
    svc = system
    last = max(int(b[1:]) for b in per_batch)
    for n in range(last + 2):  # the one that may have been cut off, and one more
        system.ingest(batch(n))
    for n in range(last + 2):
        assert {r.event_id for r in system.ingest(batch(n)) if r.outcome == "duplicate"} == {
            f"b{n}-{i}" for i in range(BATCH)
        }
    # Every profile is the fold of its person's events, and the persons are the graph's.
    for c in range(500):
        pid = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", f"C{c}")))
        events = svc.store.events_of(pid)
        assert len(events) == (last + 2) * BATCH // 500 + (c < (last + 2) * BATCH % 500)
        assert_same_profile(
            svc.reads.profiles.get(ProfileKey(person_id=pid)).state,
            svc.folder.fold(ProfileState(), (e.facts for e in events)),
        )
    system.close()
