"""The embedded feed finds a person's changes through blocks of row numbers
(changes.stores.sqlite.person_changes): listing, erasure and retention across many blocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from changes.model import Change
from changes.stores import sqlite as feed_sqlite
from changes.stores.sqlite import SqliteChangeFeed


@pytest.fixture
def feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteChangeFeed]:
    monkeypatch.setattr(feed_sqlite, "BLOCK_BITS", 2)  # 4 row numbers a block: 60 changes, 16 blocks
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
