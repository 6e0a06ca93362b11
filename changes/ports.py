"""The change feed port.

Contract (tests/contract/test_change_feed.py runs it against every backend):
- `record` appends changes and sets what was told about persons, atomically; each change gets a
  cursor, and `read` returns changes after a cursor in the order they were recorded (one person's
  changes in the order they were recorded, on every server).
- `read(None)` starts from now; a cursor older than the retention window raises CursorExpired
  with the oldest cursor still valid; a string that is no cursor raises BadCursor.
- `of_persons` returns the latest changes of some persons, newest first, however old (within
  the retention window), internal kinds included.
- `forget` removes every change of these persons and what was told about them (erasure), leaving
  the changes recorded after it.
- `due` lists the persons whose told state time alone can have changed by a moment (the
  sweeper's work): every person told with `0 < due <= before`, maybe also some whose due moment
  has moved on since (the caller checks their told state).
A later sink into an existing log (Kafka, say) is one more implementation of `record` and `read`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from changes.model import Change, Watched


class ChangeFeed(Protocol):
    def record(self, changes: Sequence[Change], told: Mapping[str, Watched | None]) -> list[Change]:
        """Appends the changes (with cursors assigned, returned) and replaces what was told about
        the persons in `told` (None: forget it)."""
        ...

    def told(self, person_ids: Collection[str]) -> dict[str, Watched]:
        """What was last told about these persons (absent: nothing yet)."""
        ...

    def read(self, after: str | None, limit: int) -> tuple[list[Change], str]:
        """Up to `limit` changes recorded after the cursor `after` (None: now), oldest first,
        and the cursor to read on from (the last change's, or `after` when none)."""
        ...

    def of_persons(self, person_ids: Collection[str], limit: int) -> list[Change]:
        """The latest `limit` changes recorded about these persons (a person and its aliases,
        say), newest first, with their cursors."""
        ...

    def forget(self, person_ids: Collection[str]) -> int:
        """Removes these persons' changes and told state; returns how many changes went."""
        ...

    def due(self, before: int, limit: int, after: str = "") -> tuple[list[str], str]:
        """About `limit` persons due by `before` (µs), from the token `after` ("": the start), and
        the token to go on from. Calling again with that token says the persons listed so far
        were looked at (a store may then forget that they were due); a call that returns the
        token it was given ends the round."""
        ...

    def trim(self, before: int) -> int:
        """Drops changes recorded before `before` (µs); returns how many."""
        ...

    def close(self) -> None: ...
