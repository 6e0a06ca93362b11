"""Embedded feeds written by earlier versions open as today's, and nothing is lost: one written
before due moments (persons flagged `timed`) has the persons it would have swept due at once, the
others never; one whose changes were indexed by person finds and forgets them all."""

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


PERSON_INDEXED_SCHEMA = """
CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, person_id TEXT NOT NULL,
    kind TEXT NOT NULL, store_id TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX changes_person ON changes(person_id);
CREATE INDEX changes_at ON changes(at);
CREATE TABLE told(person_id TEXT PRIMARY KEY, state TEXT NOT NULL, due INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


def test_a_feed_indexed_by_person_opens_with_every_change_still_found_and_forgotten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "changes.db"
    with sqlite3.connect(path) as db:
        db.executescript(PERSON_INDEXED_SCHEMA)
        db.executemany(
            "INSERT INTO changes(at, person_id, kind, store_id, detail) "
            "VALUES (?, ?, 'profile_updated', '', '{}')",
            [(10 + i, "p2" if i % 3 else "p3") for i in range(20)],
        )
    feed = SqliteChangeFeed(path)
    try:
        assert [c.at for c in feed.of_persons(["p3"], 3)] == [28, 25, 22]
        assert len(feed.of_persons(["p2", "p3"], 100)) == 20
        assert feed.forget(["p2"]) == 13
        assert [c.at for c in feed.read("0", 100)[0]] == [10, 13, 16, 19, 22, 25, 28]
    finally:
        feed.close()
    with sqlite3.connect(path) as db:
        indexes = "SELECT name FROM sqlite_schema WHERE name IN ('changes_person', 'changes_at')"
        assert not db.execute(indexes).fetchall()
