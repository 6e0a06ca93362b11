"""The stitching engine: applies the linking rules to a batch of events over a snapshot of the
graph, and records what changed. Pure Python over plain data; a store loads the snapshot and
applies the change set in one transaction.

How an event is stitched:
1. Its highest-priority non-shared identifier (the *anchor*) names the *target* person: the
   anchor's person, or a new one.
2. Every other identifier, highest priority first, joins the target through the link evidence:
   a new identifier is attached; one held by another person merges the two persons — unless
   a guard refuses:
   - **caps** (`cap` per type, 1 for customer_id and loyalty_number): a merge that would give a
     person two logins is refused. A shareable identifier (cookie, device, card) strongly linked
     to two anchored persons becomes *shared*; another contested identifier is reassigned to the
     target if this event is at least as recent as the identifier's last sighting;
   - **weak links** never merge two anchored persons (a forwarded marketing email).
3. Shared identifiers are kept, record which persons used them, and never bridge.

Where order matters (everything else gives the same partition whatever the delivery order):
which identifiers of a type fill a cap first; a weak link that attached an identifier before the
strong evidence that would have made it shared; reassignment follows occurred_at, not arrival.
On a merge the person seen first (earliest first_seen, then smallest id) keeps its id; a person
created by the event itself never outlives an existing one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict

from identity.identifiers import IdentifierType, NormalizedIdentifier, Strength
from identity.model import (
    ChangeSet,
    ChannelEvent,
    EdgeState,
    EventRecord,
    Evidence,
    IdentifierState,
    LinkEvidence,
    PersonState,
    RefusedLink,
    Snapshot,
    StitchResult,
)


class StitchingEngine:
    def __init__(self, *, types: dict[str, IdentifierType], id_secret: bytes) -> None:
        self._types = types
        self._caps = {name: t.cap for name, t in types.items() if t.cap is not None}
        # Unique types first: a two-login conflict is reported before a cookie-cap one.
        self._cap_order = sorted(self._caps, key=lambda t: (self._caps[t], -types[t].priority))
        self._anchor_types = [name for name, t in types.items() if t.anchor]
        self._id_secret = id_secret

    def stitch(
        self, snap: Snapshot, batch: list[tuple[ChannelEvent, Evidence]]
    ) -> tuple[ChangeSet, list[StitchResult]]:
        run = _BatchRun(self, snap)
        results = [run.event(ev, evidence) for ev, evidence in batch]
        return run.finish(), results

    def person_id(self, event_id: str, key: str) -> str:
        """Deterministic person ids: a replay of the same events in the same order names the same
        persons, on any backend. Keyed so ids reveal nothing about the identifiers."""
        mac = hmac.new(self._id_secret, f"{event_id}\x00{key}".encode(), hashlib.sha256)
        return "p_" + mac.hexdigest()[:24]

    def cap_violation(self, a: Counter[str], b: Counter[str]) -> str | None:
        for t in self._cap_order:
            if a[t] + b[t] > self._caps[t]:
                return t
        return None

    def anchored(self, counts: Counter[str]) -> bool:
        return any(counts[t] for t in self._anchor_types)


class _BatchRun:
    """State of one batch: the snapshot mutated in memory, and the change set being built."""

    def __init__(self, engine: StitchingEngine, snap: Snapshot) -> None:
        self.e = engine
        self.snap = snap
        self.changes = ChangeSet()
        self.members: dict[str, set[str]] = defaultdict(set)
        for st in snap.identifiers.values():
            if st.person_id is not None:
                self.members[st.person_id].add(st.key)
        self.alias: dict[str, str] = {}
        self.previous_sighting: dict[str, int] = {}
        self.created: list[PersonState] = []

    def canonical(self, pid: str | None) -> str | None:
        while pid is not None and pid in self.alias:
            pid = self.alias[pid]
        return pid

    # -- one event ---------------------------------------------------------------------------

    def event(self, ev: ChannelEvent, evidence: Evidence) -> StitchResult:
        if ev.event_id in self.snap.known_events:
            pid = self.canonical(self.snap.known_events[ev.event_id])
            return StitchResult(ev.event_id, pid, "duplicate", ignored=ev.ignored)
        result = StitchResult(ev.event_id, None, "unattributed", ignored=ev.ignored)
        self.created = []
        states = [
            self._sighted(ident, ev, i in evidence.declared_shared) for i, ident in enumerate(ev.identifiers)
        ]
        order = sorted(
            (i for i, st in enumerate(states) if not st.shared),
            key=lambda i: (-self.e._types[states[i].type].priority, states[i].key),
        )
        target: PersonState | None = None
        if order:
            anchor_i = order[0]
            anchor = states[anchor_i]
            target = self.snap.persons[anchor.person_id] if anchor.person_id else self._new_person(anchor, ev)
            strengths = _strength_to(anchor_i, evidence.links)
            for i in order[1:]:
                refusal = (ev.positions[anchor_i], ev.positions[i])
                target = self._join(ev, states[i], strengths.get(i), target, refusal, result)
            result.person_id = target.id
            result.outcome = (
                "created" if target.new else ("merged" if result.merged_person_ids else "attached")
            )
            for st in states:
                if st.shared:
                    self.changes.shared_uses.add((st.key, target.id))
        for person in self.created:
            if person.id in self.snap.persons:
                self.changes.new_persons[person.id] = person.first_seen
                person.new = False
        self._record_edges(ev, states, evidence)
        self.snap.known_events[ev.event_id] = result.person_id
        self.changes.events.append(EventRecord(ev.event_id, result.person_id, ev.occurred_at))
        return result

    def _sighted(
        self, ident: NormalizedIdentifier, ev: ChannelEvent, declared_shared: bool
    ) -> IdentifierState:
        st = self.snap.identifiers.get(ident.key)
        if st is None:
            st = IdentifierState(ident.key, ident.type, None, declared_shared, ev.occurred_at, ev.occurred_at)
            self.snap.identifiers[ident.key] = st
            self.previous_sighting[ident.key] = ev.occurred_at
        else:
            self.previous_sighting[ident.key] = st.last_seen
            st.first_seen = min(st.first_seen, ev.occurred_at)
            st.last_seen = max(st.last_seen, ev.occurred_at)
        self.changes.identifiers[st.key] = st
        return st

    def _new_person(self, st: IdentifierState, ev: ChannelEvent) -> PersonState:
        person = PersonState(self.e.person_id(ev.event_id, st.key), ev.occurred_at, Counter(), new=True)
        self.snap.persons[person.id] = person
        self.created.append(person)
        self._assign(st, person)
        return person

    def _join(
        self,
        ev: ChannelEvent,
        st: IdentifierState,
        strength: Strength | None,
        target: PersonState,
        positions: tuple[int, int],
        result: StitchResult,
    ) -> PersonState:
        """Brings one identifier into the target person, or records why not. Returns the target,
        which is a different person when a merge kept the other person's id."""
        if st.person_id == target.id:
            return target
        if strength is None:
            # No evidence links it to the anchor: it is only seen. A newcomer gets its own person.
            if st.person_id is None:
                self._new_person(st, ev)
            return target
        refuse = result.refused.append
        if st.person_id is None:
            over = self.e.cap_violation(target.counts, Counter({st.type: 1}))
            if over is None:
                self._assign(st, target)
            else:
                refuse(RefusedLink(*positions, self._cap_rule(over), "separate_person"))
                self._new_person(st, ev)
            return target
        other = self.snap.persons[st.person_id]
        if strength is Strength.WEAK and self.e.anchored(target.counts) and self.e.anchored(other.counts):
            refuse(RefusedLink(*positions, "weak_link", "kept_apart"))
            return target
        over = self.e.cap_violation(target.counts, other.counts)
        if over is None:
            return self._merge(target, other, result)
        rule = self._cap_rule(over)
        if strength is Strength.STRONG and self.e._types[st.type].shareable and over in self.e._anchor_types:
            self._unassign(st)
            st.shared = True
            self.changes.shared_uses.add((st.key, other.id))
            refuse(RefusedLink(*positions, rule, "marked_shared"))
        elif (
            strength is Strength.STRONG and self.e.cap_violation(target.counts, Counter({st.type: 1})) is None
        ):
            if ev.occurred_at >= self.previous_sighting[st.key]:
                self._unassign(st)
                self._assign(st, target)
                refuse(RefusedLink(*positions, rule, "reassigned"))
            else:
                refuse(RefusedLink(*positions, "stale_evidence", "kept_apart"))
        else:
            refuse(RefusedLink(*positions, rule, "kept_apart"))
        return target

    def _cap_rule(self, over: str) -> str:
        return "unique_type" if self.e._caps[over] == 1 else "type_cap"

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
                    ka, kb, ev.occurred_at, ev.occurred_at, ev.channel, link.rule, link.strength, 0
                )
                self.snap.edges[(ka, kb)] = edge
            edge.first_seen = min(edge.first_seen, ev.occurred_at)
            edge.last_seen = max(edge.last_seen, ev.occurred_at)
            edge.strength = max(edge.strength, link.strength)
            edge.event_count += 1
            self.changes.edges[(ka, kb)] = edge

    def finish(self) -> ChangeSet:
        # Events remember the person they landed on; later merges in the batch move them on.
        self.changes.events = [
            EventRecord(r.event_id, self.canonical(r.person_id), r.occurred_at) for r in self.changes.events
        ]
        self.changes.shared_uses = {(k, self.canonical(p) or p) for k, p in self.changes.shared_uses}
        self.changes.new_persons = {p: t for p, t in self.changes.new_persons.items() if p not in self.alias}
        return self.changes


def edge_key(a: str, b: str) -> tuple[str, str]:
    """Edges are undirected and stored once, under their keys in sorted order."""
    return (a, b) if a <= b else (b, a)


def _strength_to(anchor_i: int, links: tuple[LinkEvidence, ...]) -> dict[int, Strength]:
    """Strongest evidence joining each identifier to the anchor, directly or through others."""
    best: dict[int, Strength] = {anchor_i: Strength.STRONG}
    changed = True
    while changed:
        changed = False
        for link in links:
            for x, y in ((link.a, link.b), (link.b, link.a)):
                if x in best:
                    s = min(best[x], link.strength)
                    if best.get(y, 0) < s:
                        best[y] = s
                        changed = True
    del best[anchor_i]
    return best
