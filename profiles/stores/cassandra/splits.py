"""Splits (`reattribute`): rows move to their new owners, then each touched person's refolded state
is set `IF version = <read>`; if any person changed meanwhile the whole split is recomputed from
where the rows now are, which converges because every step is idempotent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import StoreUnavailable
from profiles.ports import Folding, LoggedEvent
from profiles.state import ProfileState, encode_state
from profiles.stores.cassandra.merges import MAX_ROUNDS
from profiles.stores.cassandra.partitions import Head, Partitions


@dataclass
class Split:
    """One computation of a split: events by owner, and the rows to move."""

    heads: dict[str, Head]
    owned: dict[str, dict[str, LoggedEvent]] = field(default_factory=lambda: defaultdict(dict))
    moves: list[tuple[str, str | None, LoggedEvent]] = field(default_factory=list)
    """(from partition, to person or None, event)."""


class Splits:
    def __init__(self, parts: Partitions) -> None:
        self._p = parts

    def reattribute(
        self, person_ids: Collection[str], owner: Callable[[LoggedEvent], str | None], folding: Folding
    ) -> dict[str, int]:
        p = self._p
        for _ in range(MAX_ROUNDS):
            split = self._plan(person_ids, owner, folding)
            self._move_rows(split.moves)
            writes: dict[str, list[tuple[Any, Any]]] = {}
            for pid, head in split.heads.items():
                evs = split.owned.get(pid, {})
                state = folding.fold(ProfileState(), (e.facts for e in evs.values())) if evs else None
                blob = None if state is None else encode_state(state)
                writes[pid] = [(p.st.set_state, (blob, *p.next(head)))]
            applied = p.run_batches(writes)
            if all(applied.values()):
                return {pid: len(split.owned.get(pid, {})) for pid in split.heads}
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def _plan(
        self, person_ids: Collection[str], owner: Callable[[LoggedEvent], str | None], folding: Folding
    ) -> Split:
        p = self._p
        sources = {h.person_id: h for h in (p.live(pid, folding) for pid in person_ids)}
        split = Split(heads=dict(sources))
        live: dict[str, str] = {}

        def live_id(pid: str) -> str:
            if pid not in live:
                head = p.live(pid, folding)
                live[pid] = head.person_id
                split.heads.setdefault(head.person_id, head)
            return live[pid]

        for located, e in p.located_events(sources.values()):
            new = owner(e)
            new = None if new is None else live_id(new)
            if new is not None:
                split.owned[new][e.facts.event_id] = LoggedEvent(new, e.keys, e.facts)
            if new is None or located not in split.heads[new].scope:
                split.moves.append((located, new, e))
        gaining = [h for pid, h in split.heads.items() if pid not in sources]
        for _, e in p.located_events(gaining):
            assert e.person_id is not None
            split.owned[e.person_id].setdefault(e.facts.event_id, e)
        return split

    def _move_rows(self, moves: Sequence[tuple[str, str | None, LoggedEvent]]) -> None:
        """Row to its new partition, claim to it, row out of the old one (each step idempotent)."""
        p = self._p
        p.conn.run_all([p.row(to, e) for _, to, e in moves if to is not None])
        p.conn.run_all([(p.st.move_claim, (p.ttl, to, p.ns, e.facts.event_id)) for _, to, e in moves])
        p.conn.run_all(
            [
                (p.st.delete_row, (p.ns, located, e.facts.event_id))
                for located, to, e in moves
                if located != to
            ]
        )
