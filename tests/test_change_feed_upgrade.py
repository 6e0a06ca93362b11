"""An embedded feed written before due moments (persons flagged `timed`) opens as one with them:
the persons it would have swept are due at once, the others never, and nothing else is lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from changes.model import Watched
from changes.stores.sqlite import SqliteChangeFeed

OLD_SCHEMA = """
CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, person_id TEXT NOT NULL,
    kind TEXT NOT NULL, store_id TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE told(person_id TEXT PRIMARY KEY, state TEXT NOT NULL, timed INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX told_timed ON told(timed, person_id);
CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO changes(at, person_id, kind, store_id, detail) VALUES (5, 'p1', 'person_created', '', '{}');
INSERT INTO told VALUES ('p1', '{"segments":["s"],"timed":true}', 1), ('p2', '{"store_id":"S2"}', 0);
"""


def test_an_old_feed_opens_with_its_timed_persons_due_at_once(tmp_path: Path) -> None:
    path = tmp_path / "changes.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    feed = SqliteChangeFeed(path)
    try:
        assert feed.due(before=10, limit=10) == (["p1"], "1:p1")
        assert feed.due(before=10, limit=10, after="1:p1") == ([], "1:p1")
        assert feed.told(["p1", "p2"]) == {
            "p1": Watched(segments=("s",), due=1),
            "p2": Watched(store_id="S2"),
        }
        assert [c.person_id for c in feed.read("0", 10)[0]] == ["p1"]
        feed.record([], {"p1": Watched(due=50)})
        assert feed.due(before=10, limit=10) == ([], "")
        assert feed.due(before=50, limit=10) == (["p1"], "50:p1")
    finally:
        feed.close()
