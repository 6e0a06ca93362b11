"""The state of one batch being stitched: the snapshot mutated in memory and the change set that
mirrors each mutation, for the store to apply in one transaction."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from identity.identifiers import EvidenceClass
from identity.model import (
    ChangeSet,
    ChannelEvent,
    EdgeState,
    EventRecord,
    Evidence,
    IdentifierState,
    PersonState,
    Snapshot,
    StitchResult,
)

if TYPE_CHECKING:
    from identity.engine import StitchingEngine


def edge_key(a: str, b: str) -> tuple[str, str]:
    """Edges are undirected and stored once, under their keys in sorted order."""
    return (a, b) if a <= b else (b, a)


class BatchState:
    """State of one batch: the snapshot mutated in memory, and the change set being built."""

    def __init__(self, engine: StitchingEngine, snap: Snapshot) -> None:
        self.e = engine
        self.snap = snap
        self.changes = ChangeSet()
        self.members: dict[str, set[str]] = defaultdict(set)
        for st in snap.identifiers.values():
            if st.person_id is not None:
                self.members[st.person_id].add(st.key)
        self.joined_via: dict[str, set[str]] = defaultdict(set)
        """Identifier → those weak links joined through it (loaded with the snapshot)."""
        for st in snap.identifiers.values():
            if st.weak_via is not None and st.weak_since is not None:
                self.joined_via[st.weak_via].add(st.key)
        self.alias: dict[str, str] = {}
        self.previous_sighting: dict[str, int] = {}
        self.created: list[PersonState] = []

    def canonical(self, pid: str | None) -> str | None:
        while pid is not None and pid in self.alias:
            pid = self.alias[pid]
        return pid

    # -- graph mutations (in memory, mirrored into the change set) ---------------------------

    def _assign(self, st: IdentifierState, person: PersonState) -> None:
        st.person_id = person.id
        person.counts[st.type] += 1
        self.members[person.id].add(st.key)

    def _unassign(self, st: IdentifierState) -> None:
        if st.person_id is None:
            return
        person = self.snap.persons[st.person_id]
        person.counts[st.type] -= 1
        self.members[person.id].discard(st.key)
        st.person_id = None

    def _merge(self, a: PersonState, b: PersonState, result: StitchResult) -> PersonState:
        survivor, loser = sorted((a, b), key=lambda p: (p.new, p.first_seen, p.id))
        survivor.counts.update(loser.counts)
        for key in self.members.pop(loser.id, set()):
            self.snap.identifiers[key].person_id = survivor.id
            self.members[survivor.id].add(key)
        self.alias[loser.id] = survivor.id
        del self.snap.persons[loser.id]
        if not loser.new:
            self.changes.merges.append((loser.id, survivor.id))
            result.merged_person_ids.append(loser.id)
        return survivor

    def _record_edges(self, ev: ChannelEvent, states: list[IdentifierState], evidence: Evidence) -> None:
        for link in evidence.links:
            ka, kb = edge_key(states[link.a].key, states[link.b].key)
            if ka == kb:
                continue
            edge = self.changes.edges.get((ka, kb)) or self.snap.edges.get((ka, kb))
            if edge is None:
                edge = EdgeState(
                    ka, kb, ev.occurred_at, ev.occurred_at, ev.channel, link.rule, link.proves, 0
                )
                self.snap.edges[(ka, kb)] = edge
            edge.first_seen = min(edge.first_seen, ev.occurred_at)
            edge.last_seen = max(edge.last_seen, ev.occurred_at)
            edge.proves = EvidenceClass.strongest(edge.proves, link.proves)
            edge.event_count += 1
            self.changes.edges[(ka, kb)] = edge

    def finish(self) -> ChangeSet:
        # Events remember the person they landed on; later merges in the batch move them on.
        self.changes.events = [
            EventRecord(r.event_id, self.canonical(r.person_id), r.occurred_at) for r in self.changes.events
        ]
        self.changes.shared_uses = {(k, self.canonical(p) or p) for k, p in self.changes.shared_uses}
        self.changes.new_persons = {p: t for p, t in self.changes.new_persons.items() if p not in self.alias}
        self.changes.splits = {self.canonical(p) or p for p in self.changes.splits}
        return self.changes
