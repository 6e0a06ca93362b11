"""A killed process leaves every batch either fully applied or absent, and a retry completes it.
The writer is a real process stopped with SIGKILL at an arbitrary moment of its ingest loop."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from server.bootstrap import build_identity_service
from server.config import load_settings

BATCH = 300

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from server.bootstrap import build_identity_service
    from server.config import load_settings
    from tests.test_crash_atomicity import batch

    svc = build_identity_service(load_settings(data_dir=Path(sys.argv[1]), hmac_secret="crash"))
    n = 0
    while True:
        svc.ingest(batch(n))
        print(n, flush=True)
        n += 1
    """
)


def batch(n: int) -> list:
    from identity.service import RawEvent

    # Every event merges persons of earlier batches, so a half-applied batch would show.
    return [
        RawEvent(
            f"b{n}-{i}",
            (n * BATCH + i) * 1000,
            "web",
            "login",
            [
                ("customer_id", f"C{(n * BATCH + i) % 500}"),
                ("cookie", f"k{n}-{i}"),
                ("cookie", f"k{max(n - 1, 0)}-{i}"),
            ],
        )
        for i in range(BATCH)
    ]


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
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    per_batch = dict(
        db.execute("SELECT substr(event_id, 1, instr(event_id, '-') - 1), count(*) FROM events GROUP BY 1")
    )
    assert all(count == BATCH for count in per_batch.values()), per_batch
    assert {f"b{n}" for n in range(committed + 1)} <= set(per_batch)
    assert db.execute(
        "SELECT count(*) FROM identifiers i LEFT JOIN persons p ON p.id = i.person_id "
        "WHERE i.shared = 0 AND p.id IS NULL"
    ).fetchone() == (0,)
    db.close()

    svc = build_identity_service(load_settings(data_dir=data, hmac_secret="crash"))
    last = max(int(b[1:]) for b in per_batch)
    for n in range(last + 2):  # the one that may have been cut off, and one more
        svc.ingest(batch(n))
    for n in range(last + 2):
        assert {r.event_id for r in svc.ingest(batch(n)) if r.outcome == "duplicate"} == {
            f"b{n}-{i}" for i in range(BATCH)
        }
    svc.graph.close()
