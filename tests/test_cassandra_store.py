"""What only the Cassandra profile store has to prove beyond the shared contract: a merge that a
writer left half done loses nothing and is finished by the next write to the survivor (or by the
merge's retry), and erasure leaves no partition and no event claim of the person behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from profiles.state import ProfileState
from profiles.stores.cassandra import CassandraProfileStore
from tests.contract.test_profile_store import fold, folder, logged, view
from tests.profile_data import assert_same_profile
from tests.servers import cassandra_endpoint, fresh_namespace

KEYSPACE = "idstitch_test"


@pytest.fixture
def store() -> Iterator[CassandraProfileStore]:
    s = CassandraProfileStore(cassandra_endpoint(), keyspace=KEYSPACE, namespace=fresh_namespace())
    yield s
    s.close()


def rows_left(store: CassandraProfileStore) -> dict[str, int]:
    """Rows of the store's namespace in each table, read straight from Cassandra."""
    session, ns = store._p.conn.session, store._p.ns
    return {
        table: len(
            list(session.execute(f"SELECT ns FROM {KEYSPACE}.{table} WHERE ns = %s ALLOW FILTERING", (ns,)))
        )
        for table in ("person_log", "event_claims")
    }


def stop_after(store: CassandraProfileStore, steps: int, loser: str, survivor: str) -> None:
    """The first `steps` steps of a merge, as a writer that then died would leave them."""
    p = store._p  # the partitions the store's merge protocol runs on
    kept = p.head(survivor)
    assert p.cas(p.st.add_pending, ({loser}, *p.next(kept)))
    if steps >= 2:
        assert p.cas(p.st.freeze, (survivor, *p.next(p.head(loser))))


@pytest.mark.parametrize("steps", [1, 2])
def test_a_merge_a_writer_left_half_done_loses_nothing_and_the_next_writes_finish_it(
    store: CassandraProfileStore, steps: int
) -> None:
    store.append(events=logged("a", view(1, "s1")) + logged("b", view(2, "s2")), merges={}, folding=folder)
    stop_after(store, steps, "b", "a")
    # Stitched before the merge: lands in b while b is live (step 1), on a once b is frozen (step 2).
    store.append(events=logged("b", view(3, "s3")), merges={}, folding=folder)
    store.append(events=logged("a", view(4, "s4")), merges={}, folding=folder)  # finishes the merge
    whole = fold(view(1, "s1"), view(2, "s2"), view(3, "s3"), view(4, "s4"))
    for pid in ("a", "b"):
        assert_same_profile(store.get(pid) or ProfileState(), whole)
        assert sorted(e.facts.event_id for e in store.events_of(pid)) == ["e1", "e2", "e3", "e4"]


def test_a_retried_merge_after_a_writer_died_counts_nothing_twice(store: CassandraProfileStore) -> None:
    store.append(events=logged("a", view(1)) + logged("b", view(2)), merges={}, folding=folder)
    stop_after(store, 2, "b", "a")
    store.append(events=logged("a", view(1)) + logged("b", view(2)), merges={"b": "a"}, folding=folder)
    assert_same_profile(store.get("a") or ProfileState(), fold(view(1), view(2)))


def test_erasure_leaves_no_partition_and_no_claim_of_the_person(store: CassandraProfileStore) -> None:
    store.append(
        events=logged("a", view(1)) + logged("b", view(2)) + logged("c", view(3)), merges={}, folding=folder
    )
    store.append(events=[], merges={"b": "a"}, folding=folder)
    store.append(events=[], merges={"a": "c"}, folding=folder)
    store.append(events=logged("x", view(4)), merges={}, folding=folder)  # someone else
    assert rows_left(store) == {"person_log": 4, "event_claims": 4}
    assert store.erase("b") == (3, True)  # by an alias: the whole person
    assert rows_left(store) == {"person_log": 1, "event_claims": 1}
    assert store.get("x") is not None and store.get("a") is None and store.get("c") is None


def test_a_person_another_writer_is_filling_is_not_merged_as_an_empty_alias(
    store: CassandraProfileStore,
) -> None:
    """Two servers: one has stitched x (the graph committed) and is about to write x's first
    events; the other's batch merges x into y and finds x's partition still empty. Whichever
    write lands second must see the first — x's events end up in y, never in an orphaned x."""
    other = CassandraProfileStore(cassandra_endpoint(), keyspace=KEYSPACE, namespace=store._p.ns)
    try:
        other.append(events=logged("y", view(2, "s2")), merges={}, folding=folder)
        read_heads = store._p.heads

        def heads_then_merge(person_ids):  # type: ignore[no-untyped-def]
            heads = read_heads(person_ids)
            if "x" in heads:  # x read as empty; the other server merges it before x is written
                other.append(events=[], merges={"x": "y"}, folding=folder)
            return heads

        store._p.heads = heads_then_merge  # type: ignore[method-assign]
        store.append(events=logged("x", view(1, "s1")), merges={}, folding=folder)
        store._p.heads = read_heads  # type: ignore[method-assign]
        for pid in ("x", "y"):
            assert sorted(e.facts.event_id for e in store.events_of(pid)) == ["e1", "e2"]
            assert_same_profile(store.get(pid) or ProfileState(), fold(view(1, "s1"), view(2, "s2")))
    finally:
        other.close()
