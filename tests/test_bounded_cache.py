"""The byte-bounded cache evicts its oldest entries first and never holds more than its bound."""

from __future__ import annotations

from identity.bounded_cache import ENTRY_OVERHEAD, BoundedCache


def test_the_oldest_entries_go_first_and_the_bound_holds() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_bytes=3 * (ENTRY_OVERHEAD + 10))
    for i in range(5):
        cache.put(f"k{i}", i, 10)
        assert cache.bytes <= cache.max_bytes
    assert [cache.get(f"k{i}") for i in range(5)] == [None, None, 2, 3, 4]
    cache.put("k2", 20, 10)  # already held: kept as it was, and not made younger
    cache.put_many([("k5", 5, 10)])
    assert [cache.get(f"k{i}") for i in range(6)] == [None, None, None, 3, 4, 5]
    assert len(cache) == 3 and cache.bytes == 3 * (ENTRY_OVERHEAD + 10)


def test_an_entry_larger_than_the_bound_leaves_the_cache_empty() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_bytes=ENTRY_OVERHEAD + 10)
    cache.put("small", 1, 10)
    cache.put("large", 2, 1_000)
    assert (len(cache), cache.bytes, cache.get("small"), cache.get("large")) == (0, 0, None, None)
