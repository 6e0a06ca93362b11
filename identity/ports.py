"""The identity graph port: what the stitching service needs from a store, in domain words.

Contract (tests/contract/test_identity_graph.py runs it against every backend):
- `stitch` is atomic: it loads a snapshot of the batch's identifiers (`keys`), their persons with
  counts by type, the edges named in `pairs` (each as a sorted key pair) and which `event_ids`
  were accepted before, lets `plan` decide, and applies the returned change set entirely or not
  at all. Batches are serializable: a plan never sees another batch's half-applied changes.
- Every identifier belongs to one person or is shared; a merged-away person id stays an alias of
  the surviving person, and an alias always names a live person (aliases are kept one hop deep).
- A change set's `outbox` entry is written in its transaction; `outbox` lists the entries
  written before a time, oldest first, until `outbox_done` deletes them.
- Event ids are recorded with the person each event was attributed to; a resent event is known,
  and names that person's survivor if it was merged since. (What an event says, and the events
  of a person, are the profile store's: profiles.ports.)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol, TypeVar

from identity.identifiers import EvidenceClass
from identity.model import (
    ChangeSet,
    ChannelEvent,
    Evidence,
    GraphErasure,
    OutboxEntry,
    PersonGraph,
    SharedResolution,
    Snapshot,
)

R = TypeVar("R")


class IdentityGraph(Protocol):
    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        """Runs `plan` over a snapshot and applies its change set in one transaction."""
        ...

    def outbox(self, before: int, limit: int) -> list[OutboxEntry]:
        """Up to `limit` outbox entries written before `before` (µs), oldest first."""
        ...

    def outbox_done(self, ids: Collection[str]) -> None:
        """Deletes these outbox entries (unknown ids are ignored)."""
        ...

    def detach(
        self,
        key: str,
        *,
        new_person_id: str | None,
        outbox: Callable[[str], OutboxEntry] | None = None,
    ) -> str | None:
        """Takes a non-shared identifier away from its person, atomically: into a new person
        `new_person_id` (first seen when the identifier was), or, when None, marks it shared (the
        person keeps using it; it never links anyone again). Returns the person it left; None when
        the key is unknown, already shared, or the person's only identifier and a new person is
        asked for (a lone identifier cannot be split from itself). `outbox(person left)` is an
        entry written in the same transaction."""
        ...

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        """Removes a person (by id or alias) atomically: its identifiers and every link touching
        them, its use of shared identifiers, its aliases, its node, and the records of these
        events; another identifier joined through one of its identifiers forgets which
        (`weak_via`). None when the person is unknown. Leaves no trace of them in the store's
        files."""
        ...

    def persons_linked_to(self, keys: Collection[str]) -> set[str]:
        """The persons holding an identifier that shares a link (of any strength, applied or
        not) with one of `keys`: whose events may name these keys too."""
        ...

    def resolve(self, key: str) -> str | SharedResolution | None:
        """The person id holding `key`, the persons that shared it, or None when unknown."""
        ...

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        """`resolve` and `person_graph` in one read: the graph of the person holding `key`."""
        ...

    def live_person(self, person_id: str) -> str | None:
        """The live person named by `person_id` or by it as an alias; None when unknown."""
        ...

    def resolve_many(self, keys: Collection[str]) -> dict[str, str | SharedResolution]:
        """`resolve` of each key, in a bounded number of round trips (BatchGetProfiles' path);
        unknown keys are left out."""
        ...

    def resolve_people(self, keys: Collection[str]) -> dict[str, PersonGraph | SharedResolution]:
        """`resolve_person` of each key, in a bounded number of round trips (BatchResolve's
        path); unknown keys are left out."""
        ...

    def live_persons(self, person_ids: Collection[str]) -> dict[str, str]:
        """`live_person` of each id, in a bounded number of round trips; unknown ids are left out."""
        ...

    def person_graph(self, person_id: str) -> PersonGraph | None:
        """A person (by its id or any alias) with its identifiers, shared identifiers and edges."""
        ...

    def ping(self) -> None:
        """Raises StoreUnavailable when the backend cannot serve."""
        ...

    def close(self) -> None: ...


class ChannelResolver(Protocol):
    """Turns one channel's events into link evidence (resolvers/ implements it, per channel)."""

    channel: str

    def evidence(self, event: ChannelEvent) -> Evidence: ...

    def graded(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        """The evidence class and rule of the links of an event of this type with these
        identifier types (None: it proves no link)."""
        ...
