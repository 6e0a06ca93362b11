"""The embedded feed's own layout: a person's changes are found through blocks of row numbers
(changes.stores.sqlite.person_changes) — listing, erasure and retention across many blocks — and
retention trims from the oldest row, without an index on the time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from changes.log import EMPTY, SECTIONS, digests
from changes.model import TOLD_SECTIONS, Change, CursorExpired, Watched, encode_told
from changes.stores import sqlite as feed_sqlite
from changes.stores.sqlite import SqliteChangeFeed
from profiles.state import ProfileState


@pytest.fixture
def feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteChangeFeed]:
    monkeypatch.setattr(feed_sqlite, "BLOCK_BITS", 2)  # 4 row numbers a block: 60 changes, 16 blocks
    monkeypatch.setattr(feed_sqlite, "LISTING_SPAN", 2)  # a listing reads 2 blocks at a time
    f = SqliteChangeFeed(tmp_path / "changes.db")
    for at in range(60):
        person = "rare" if at in (2, 41) else f"p{at % 3}"
        f.record([Change(person, "profile_updated", at)], {})
    yield f
    f.close()


def test_a_persons_changes_are_listed_newest_first_across_blocks(feed: SqliteChangeFeed) -> None:
    assert [c.at for c in feed.of_persons(["rare"], 10)] == [41, 2]
    assert [c.at for c in feed.of_persons(["p0", "rare"], 4)] == [57, 54, 51, 48]
    assert [c.at for c in feed.of_persons(["p1"], 100)] == list(range(58, 0, -3))


def test_erasure_removes_every_change_in_every_block_and_only_those(feed: SqliteChangeFeed) -> None:
    assert feed.forget(["rare", "p1"]) == 2 + 20
    assert feed.of_persons(["rare", "p1"], 100) == []
    left = [c.at for c in feed.read("0", 100)[0]]
    assert left == [at for at in range(60) if at not in (2, 41) and at % 3 != 1]


def test_retention_drops_whole_blocks_and_listing_skips_what_it_dropped(feed: SqliteChangeFeed) -> None:
    assert feed.trim(before=30) == 30
    assert [c.at for c in feed.of_persons(["rare"], 10)] == [41]
    assert [c.at for c in feed.of_persons(["p0"], 100)] == list(range(57, 29, -3))
    assert feed.forget(["p0"]) == 10


def test_retention_stops_at_the_first_change_not_old_enough(tmp_path: Path) -> None:
    # Times follow the order of recording, but a clock stepped back can break it: what comes
    # after a change too young to drop stays, and no reader's cursor skips it.
    f = SqliteChangeFeed(tmp_path / "changes.db")
    try:
        f.record([Change("p", "profile_updated", at) for at in (10, 20, 50, 30, 60)], {})
        assert f.trim(before=40) == 2
        with pytest.raises(CursorExpired, match="2"):
            f.read("0", 10)
        assert [c.at for c in f.read("2", 10)[0]] == [50, 30, 60]
        assert f.trim(before=40) == 0
        assert f.trim(before=100) == 3
        assert f.trim(before=100) == 0
    finally:
        f.close()


def test_told_state_is_packed_and_rows_an_older_feed_wrote_as_json_are_read(tmp_path: Path) -> None:
    assert tuple(SECTIONS) == TOLD_SECTIONS  # else every told state is written as JSON
    feed = SqliteChangeFeed(tmp_path / "changes.db")
    told = {
        "full": Watched(digests(ProfileState(events=3)), ("vip", "new"), True, "S1", due=99),
        "empty": Watched(),
        "odd": Watched({"context": "not hex"}, store_id="S2"),
        "old": Watched(EMPTY, ("vip",), due=5),
    }
    try:
        feed.record([], told)
        with feed._db.write() as db:
            (stored,) = db.execute("SELECT state FROM told WHERE person_id = 'full'").fetchone()
            # As an older feed wrote it: JSON, the due moment in it too.
            db.execute(
                "UPDATE told SET state = ? WHERE person_id = 'old'", (encode_told(told["old"]).decode(),)
            )
        assert not stored.startswith(b"{") and len(stored) < len(encode_told(told["full"])) / 2
        assert feed.told(list(told)) == told
    finally:
        feed.close()
