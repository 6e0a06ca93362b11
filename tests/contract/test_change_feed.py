"""The change feed contract (changes/ports.py), run against every implementation: the embedded
SQLite file and the cluster's Cassandra."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from changes.model import BadCursor, Change, CursorExpired, Watched
from changes.ports import ChangeFeed
from tests.backends import FEED_BACKENDS
from tests.backends import MakeFeed as Make


@pytest.fixture(params=sorted(FEED_BACKENDS))
def make_feed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """Opens the feed of one fresh namespace (again: a second server, or a restart)."""
    opened: list[ChangeFeed] = []
    factory = FEED_BACKENDS[request.param](tmp_path)

    def make(**kw: object) -> ChangeFeed:
        opened.append(factory(**kw))
        return opened[-1]

    yield make
    for f in opened:
        with contextlib.suppress(Exception):
            f.close()


def now() -> int:
    return time.time_ns() // 1000


def read_all(feed: ChangeFeed, after: str, wait: float = 0.3) -> list[Change]:
    time.sleep(wait)  # past a shared feed's settle time
    out: list[Change] = []
    while True:
        page, after = feed.read(after, 2)
        if not page:
            return out
        out += page


def test_changes_are_read_after_a_cursor_in_the_order_recorded(make_feed: Make) -> None:
    feed = make_feed()
    _, start = feed.read(None, 10)
    recorded = feed.record(
        [Change(f"p{i % 3}", "profile_updated", now(), {"sections": ["context"]}) for i in range(7)], {}
    )
    assert len({c.cursor for c in recorded}) == 7
    got = read_all(feed, start)
    assert [(c.person_id, c.detail) for c in got] == [
        (f"p{i % 3}", {"sections": ["context"]}) for i in range(7)
    ]
    assert [c.cursor for c in got] == [c.cursor for c in recorded]
    assert read_all(feed, got[3].cursor) == got[4:]
    assert read_all(feed, got[-1].cursor) == []


def test_the_feed_outlives_the_process_that_wrote_it(make_feed: Make) -> None:
    a = make_feed()
    _, start = a.read(None, 10)
    a.record([Change("p1", "person_created", now())], {"p1": Watched(segments=("s",), due=7)})
    a.close()
    b = make_feed()  # a restart (or, on a shared feed, another server)
    b.record([Change("p2", "person_created", now())], {})
    assert [c.person_id for c in read_all(b, start)] == ["p1", "p2"]
    assert b.told(["p1", "p2"]) == {"p1": Watched(segments=("s",), due=7)}


def due_round(feed: ChangeFeed, before: int, limit: int = 1) -> list[str]:
    """One sweeper's round: pages of due persons until the token stops moving."""
    persons, after = [], ""
    for _ in range(100):
        page, token = feed.due(before, limit, after)
        persons += page
        if token == after:
            return persons
        after = token
    raise AssertionError("the round does not end")


def test_told_state_is_replaced_forgotten_and_the_persons_due_listed_by_their_moment(make_feed: Make) -> None:
    feed = make_feed()
    t = now()
    soon, later = t + 1_000_000, t + 3_600_000_000  # due in a second; in an hour
    feed.record(
        [], {f"p{i}": Watched(store_id=f"S{i}", due=soon + i if i % 2 == 0 else later) for i in range(7)}
    )
    feed.record([], {"p0": Watched(), "p1": None, "p8": Watched(due=soon)})
    assert set(feed.told([f"p{i}" for i in range(9)])) == {"p0", "p2", "p3", "p4", "p5", "p6", "p8"}
    assert feed.told(["p0"])["p0"] == Watched()
    assert feed.forget(["p8"]) == 0  # erased: its told state and its due moment go
    assert due_round(feed, t) == []  # nobody is due yet
    listed = due_round(feed, t + 20_000_000)
    # p0's moment moved on (to none): a store may still list it; the caller checks told state.
    assert {"p2", "p4", "p6"} <= set(listed) <= {"p0", "p2", "p4", "p6"}
    assert len(listed) == len(set(listed))
    # Observed, they are told again with their next moment: the next round lists none of them.
    feed.record([], {p: Watched(due=later) for p in listed})
    assert due_round(feed, t + 20_000_000) == []


def test_forget_removes_a_persons_changes_and_leaves_the_rest(make_feed: Make) -> None:
    feed = make_feed()
    _, start = feed.read(None, 10)
    feed.record([Change(p, "profile_updated", now()) for p in ("p1", "p2", "p1", "alias")], {"p1": Watched()})
    assert feed.forget(["p1", "alias"]) == 3
    feed.record([Change("p1", "person_erased", now())], {})
    assert [(c.person_id, c.kind) for c in read_all(feed, start)] == [
        ("p2", "profile_updated"),
        ("p1", "person_erased"),
    ]
    assert feed.told(["p1"]) == {}


def test_bad_and_expired_cursors(make_feed: Make) -> None:
    feed = make_feed(retention_seconds=1)  # the embedded feed is trimmed instead
    with pytest.raises(BadCursor):
        feed.read("not a cursor", 10)
    _, start = feed.read(None, 10)
    feed.record([Change("p1", "person_created", now())], {})
    time.sleep(1.2)
    feed.trim(now())
    with pytest.raises(CursorExpired) as expired:
        feed.read(start, 10)
    assert read_all(feed, expired.value.oldest) == []  # the oldest cursor is one to resume from


def test_a_read_of_nothing_checks_the_cursor_and_passes_no_change(make_feed: Make) -> None:
    feed = make_feed()
    _, start = feed.read(None, 10)
    feed.record([Change("p1", "person_created", now())], {})
    time.sleep(0.3)  # past a shared feed's settle time
    assert feed.read(start, 0) == ([], start)
    assert [c.person_id for c in read_all(feed, start)] == ["p1"]


def test_a_persons_latest_changes_come_newest_first_whatever_their_age(make_feed: Make) -> None:
    feed = make_feed()
    details = [{"sections": [f"s{i}"]} for i in range(6)]
    recorded = feed.record(
        [Change("p1" if i % 2 == 0 else "alias", "profile_updated", now(), d) for i, d in enumerate(details)]
        + [Change("p2", "person_created", now())],
        {},
    )
    mine = [c for c in recorded if c.person_id in ("p1", "alias")]
    got = feed.of_persons(["p1", "alias"], 4)
    assert [(c.person_id, c.detail, c.cursor) for c in got] == [
        (c.person_id, c.detail, c.cursor) for c in reversed(mine)
    ][:4]
    assert feed.of_persons(["p2"], 10)[0].kind == "person_created"
    assert feed.of_persons(["nobody"], 10) == []
    feed.forget(["p1"])
    assert {c.person_id for c in feed.of_persons(["p1", "alias"], 10)} == {"alias"}
