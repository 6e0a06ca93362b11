"""The profile store port: the event log each profile is folded from, and the materialized profiles.

Contract (tests/contract/test_profile_store.py runs it against every backend):
- `append` is atomic and idempotent: it applies the batch's merges (the loser's profile merged into
  the survivor's, its events moved, the loser kept as an alias), then records each event whose id
  it has not seen and folds it into its person's profile. An event for a merged-away person lands
  on the survivor, whatever order batches arrive in.
- A profile always equals the fold of the events recorded for its person (floats up to rounding).
- `reattribute` moves events between persons after a split and refolds every person touched, so
  nothing of one part stays in the other.
- Reads see whole batches only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from profiles.events import EventFacts
from profiles.state import ProfileState


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as the profile store keeps it: its facts, the stored keys of its identifiers (to
    re-attribute it after a split), and the person it belongs to (None: no one)."""

    person_id: str | None
    keys: tuple[str, ...]
    facts: EventFacts


FOLD_AT_MOST = 3
"""Events of one person in a batch folded into the stored profile one by one; past it, merged."""


@dataclass(frozen=True, slots=True)
class Prefold:
    """A person's events of one batch folded into a profile of their own before anything
    committed (usecases.ingest.Ingest): the store merges it into the stored profile instead of
    folding the events again, when exactly these events are new to it."""

    event_ids: frozenset[str]
    state: ProfileState

    def into(
        self, stored: ProfileState | None, events: Sequence[EventFacts], folding: Folding
    ) -> ProfileState:
        """The stored profile with these events in (the fold law makes both ways the same profile).
        A person with few events in the batch — nearly every person of a streamed batch — gets
        them folded into the stored profile: folding one event costs about half of merging two
        profiles, which walks every field of both (3.2 to 3.8 µs against 6.4 to 6.7 µs on real
        profiles, docs/benchmarks.md). With more, the prefold is merged in."""
        if stored is None:
            return self.state
        if len(events) > FOLD_AT_MOST:
            return folding.merge(stored, self.state)
        # Newest first, as the prefold folded them: decayed scores held against the newest event.
        return folding.fold(stored, sorted(events, key=lambda f: f.occurred_at, reverse=True))


@dataclass(frozen=True, slots=True)
class Written:
    """A profile as an append wrote it: the state, and the bytes the store now holds for it.
    A later read that finds the same bytes finds this state, so it need not decode them again
    (`get_many(known=...)`): the change feed reads back every person a batch touched, and
    decoding a whole profile is the part of an event's cost that grows with the person."""

    state: ProfileState
    stored: bytes


@dataclass(frozen=True, slots=True)
class Appended:
    new: set[str]
    """The ids of the events that were new."""
    written: dict[str, Written]
    """The profiles this append wrote, by the person id they were written under. The states are
    no longer the store's: a caller may read them, never change them."""


class Folding(Protocol):
    """The domain's fold and merge (profiles.fold.Folder), handed to the store."""

    def fold(self, s: ProfileState, events: Iterable[EventFacts]) -> ProfileState: ...

    def merge(self, a: ProfileState, b: ProfileState) -> ProfileState: ...


class ProfileStore(Protocol):
    def append(
        self,
        *,
        events: Sequence[LoggedEvent],
        merges: Mapping[str, str],
        folding: Folding,
        prefolded: Mapping[str, Prefold] | None = None,
    ) -> Appended:
        """Applies `merges` (loser → survivor) and records and folds the events not seen before.
        `prefolded`, by (surviving) person: the fold of their events in this batch, which the
        store may merge in instead of folding those events (by the fold law, the same profile).
        The caller vouches that no earlier append recorded those events (they are new to the
        identity graph, which commits first); a store may skip its own check of that, but must
        still never fold an event twice into one profile."""
        ...

    def get(self, person_id: str) -> ProfileState | None:
        """The person's profile (by id or alias), or None when no event of theirs was recorded."""
        ...

    def get_many(
        self, person_ids: Collection[str], *, known: Mapping[str, Written] | None = None
    ) -> dict[str, ProfileState]:
        """Profiles by the ids asked for (aliases answered under the alias asked). `known`: what
        earlier appends wrote, by person id; where the store still holds exactly those bytes it
        answers with that state instead of decoding its own copy (which equals it)."""
        ...

    def events_of(self, person_id: str) -> list[LoggedEvent]:
        """The person's recorded events, oldest first."""
        ...

    def reattribute(
        self,
        *,
        person_ids: Collection[str],
        owner: Callable[[LoggedEvent], str | None],
        folding: Folding,
    ) -> dict[str, int]:
        """Gives each event of `person_ids` to `owner(event)` and refolds every person that gained
        or lost events, in one transaction. Returns the number of events per person afterwards."""
        ...

    def erase(self, person_id: str) -> tuple[int, bool]:
        """Deletes the person's events, profile and aliases (by id or alias), leaving no trace of
        them in the store's files. Returns (events deleted, whether a profile was)."""
        ...

    def scrub_keys(self, person_ids: Collection[str], keys: Collection[str]) -> dict[str, int]:
        """Takes `keys` (an erased person's identifiers) out of the stored events of these other
        persons (by id or alias), which carry them when an event's identifiers ended in
        different persons; leaves no trace of them in the store's files. Returns the events
        rewritten per live person (only persons with one): those whose profiles need a refold."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
