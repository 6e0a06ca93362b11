"""A cache bounded by the bytes it holds, not by its number of entries: identifier values run
from a few bytes to 1 KiB, so an entry count says nothing about memory (262,144 entries of fresh
1 KiB values held ~715 MB). Oldest entries go first (insertion order); a hot entry evicted comes
back on its next use at the cost of one computation. Reads take no lock.

The entries are an OrderedDict, not a dict: a dict emptied from the front keeps the slots of what
it lost until it next grows, and finding its oldest entry walks over them. Once a 32 MiB cache was
full, every new entry cost 28.7 µs that way (73,000 entries), 3.0 with the OrderedDict (measured
through `put`, the key's making included)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ENTRY_OVERHEAD = 400
"""Bytes an entry costs beyond the characters of its strings: the dict slot, the key tuple, the
value object and the strings' own headers (summed with sys.getsizeof: ~390 for a short identifier)."""


class BoundedCache(Generic[K, V]):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        hit = self._entries.get(key)
        return None if hit is None else hit[0]

    def put_many(self, items: Iterable[tuple[K, V, int]]) -> None:
        """Adds (key, value, characters of its strings) entries, evicting the oldest past the bound."""
        with self._lock:
            for key, value, size in items:
                if key in self._entries:
                    continue
                cost = size + ENTRY_OVERHEAD
                self._entries[key] = (value, cost)
                self._bytes += cost
                while self._bytes > self.max_bytes and self._entries:
                    self._bytes -= self._entries.popitem(last=False)[1][1]

    def put(self, key: K, value: V, size: int) -> None:
        self.put_many(((key, value, size),))

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
