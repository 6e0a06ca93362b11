"""Ingest batches run side by side; a split waits for them and holds them off while it refolds.

A batch stitched before a split but folded after it would land on the person as it was before the
split. So a split takes the gate exclusively: batches in flight finish both their stitch and their
fold first, and new batches wait until the refold has committed. (Within one server process; see
the README on splits with several servers.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SplitGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._batches = 0
        self._splitting = False

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._splitting)
            self._batches += 1
        try:
            yield
        finally:
            with self._cond:
                self._batches -= 1
                self._cond.notify_all()

    @contextmanager
    def split(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._splitting)
            self._splitting = True
            self._cond.wait_for(lambda: self._batches == 0)
        try:
            yield
        finally:
            with self._cond:
                self._splitting = False
                self._cond.notify_all()
