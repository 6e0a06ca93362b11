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
   - **weak links** never merge two anchored persons (a forwarded marketing email), and are
     *pending* until corroborated (`stitching.weak_links`: events over days, or strong evidence);
     with `attach_new`, one onto an identifier first seen in the event applies at once and marks
     that identifier (`weak_since`, `weak_via`), which is withdrawn — with what was joined through
     it — when strong evidence puts it elsewhere or a late sighting shows neither side was new.
3. Shared identifiers are kept, record which persons used them, and never bridge.

Where order matters (everything else gives the same partition whatever the delivery order):
which identifiers of a type fill a cap first; reassignment follows occurred_at, not arrival; and,
with `attach_new`, which of an email's weak links came first (README, Stitching rules).
On a merge the person seen first (earliest first_seen, then smallest id) keeps its id; a person
created by the event itself never outlives an existing one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

from identity.identifiers import EvidenceClass, IdentifierType, NormalizedIdentifier, Strength
from identity.model import (
    ChangeSet,
    ChannelEvent,
    EventRecord,
    Evidence,
    IdentifierState,
    LinkEvidence,
    PersonState,
    RefusedLink,
    Snapshot,
    StitchResult,
)
from identity.rules import WeakLinks
from identity.weak_evidence import WeakEvidence

MICROS_PER_DAY = 86_400_000_000


class StitchingEngine:
    def __init__(
        self, *, types: dict[str, IdentifierType], id_secret: bytes, weak_links: WeakLinks | None = None
    ) -> None:
        self._types = types
        weak = weak_links or WeakLinks()
        self._corroborating_events = weak.corroborating_events
        self._corroborating_us = int(weak.corroborating_days * MICROS_PER_DAY)
        self._attach_new = weak.attach_new
        at_once = {
            EvidenceClass.DECLARED: weak.declared_at_once,
            EvidenceClass.CLICK_THROUGH: weak.clicks_like_declared,
        }
        self._at_once = frozenset(c for c, on in at_once.items() if on)
        """The weak classes applied at once onto an anonymous side (the declared policy)."""
        self._caps = {name: t.cap for name, t in types.items() if t.cap is not None}
        # Unique types first: a two-login conflict is reported before a cookie-cap one.
        self._cap_order = sorted(self._caps, key=lambda t: (self._caps[t], -types[t].priority))
        self._anchor_types = [name for name, t in types.items() if t.anchor]
        self._id_secret = id_secret

    @property
    def corroborating_events(self) -> int:
        return self._corroborating_events

    @property
    def corroborating_us(self) -> int:
        return self._corroborating_us

    def cap_of(self, type_name: str) -> int | None:
        return self._caps.get(type_name)

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


class _BatchRun(WeakEvidence):
    """How each event of a batch is stitched (steps 1-3 of the module docstring), over the batch's
    state (identity/batch_state.py) and its weak-evidence judgements (identity/weak_evidence.py)."""

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
            proofs = _evidence_to(anchor_i, evidence.links)
            for i in order[1:]:
                refusal = (ev.positions[anchor_i], ev.positions[i])
                target = self._join(ev, anchor, states[i], proofs.get(i), target, refusal, result)
            confirmed = [states[i] for i, s in proofs.items() if s.strength is Strength.STRONG]
            confirmed = [c for c in confirmed if c.person_id == target.id]
            if confirmed:  # strongly linked within their person: no longer joined by weak evidence
                _confirm(anchor, *confirmed)
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
            if st.weak_since is not None and ev.occurred_at < st.weak_since and st.person_id is not None:
                self._history_found(st, ev)
            for key in sorted(self.joined_via.get(st.key, ())):
                self._partner_history_found(self.snap.identifiers[key], st, ev)
        self.changes.identifiers[st.key] = st
        return st

    def _new_person(self, st: IdentifierState, ev: ChannelEvent) -> PersonState:
        person = PersonState(self.e.person_id(ev.event_id, st.key), ev.occurred_at, Counter(), new=True)
        self.snap.persons[person.id] = person
        self.created.append(person)
        self._assign(st, person)
        return person

    def _declared_side(
        self, anchor: IdentifierState, target: PersonState, st: IdentifierState, other: PersonState
    ) -> list[tuple[str, str]]:
        """The identifiers a declared link joins to the other side, each with the identifier it
        was joined through: the members of the anonymous side (of two anonymous ones, the
        smaller)."""
        anchored = self.e.anchored
        if anchored(target.counts) or anchored(other.counts):
            target_joins = not anchored(target.counts)
        else:
            target_joins = len(self.members.get(target.id, ())) <= len(self.members.get(other.id, ()))
        if target_joins:
            return [(k, st.key) for k in sorted(self.members.get(target.id, ()))]
        return [(k, anchor.key) for k in sorted(self.members.get(other.id, ()))]

    def _join(
        self,
        ev: ChannelEvent,
        anchor: IdentifierState,
        st: IdentifierState,
        proves: EvidenceClass | None,
        target: PersonState,
        positions: tuple[int, int],
        result: StitchResult,
    ) -> PersonState:
        """Brings one identifier into the target person, or records why not. Returns the target,
        which is a different person when a merge kept the other person's id."""
        strength = None if proves is None else proves.strength
        declared = proves in self.e._at_once  # applied at once onto an anonymous side
        if st.person_id == target.id:
            if strength is Strength.STRONG:
                _confirm(anchor, st)
            elif strength is Strength.WEAK and self._corroborated(ev, anchor, st):
                _confirm_link(anchor, st)
            return target
        if strength is None:
            # No evidence links it to the anchor: it is only seen. A newcomer gets its own person.
            if st.person_id is None:
                self._new_person(st, ev)
            return target
        refuse = result.refused.append
        if st.person_id is None:
            over = self.e.cap_violation(target.counts, Counter({st.type: 1}))
            if (
                strength is Strength.WEAK
                and not (self.e._attach_new or declared)
                and not self._corroborated(ev, anchor, st)
            ):
                refuse(RefusedLink(*positions, "weak_link", "pending"))
                self._new_person(st, ev)
            elif over is None:
                both_new = strength is Strength.WEAK and self._newcomer(anchor, target, ev)
                self._assign(st, target)
                if strength is Strength.WEAK:
                    self._flag(st, ev, anchor, declared=declared)
                    if both_new and not declared:  # each joined the other
                        # (A declared address is the shopper's whatever the browser or card it
                        # was typed on turns out to be: it never follows that one away.)
                        self._flag(anchor, ev, st, declared=declared)
            else:
                refuse(RefusedLink(*positions, self._cap_rule(over), "separate_person"))
                self._new_person(st, ev)
            return target
        other = self.snap.persons[st.person_id]
        fresh: list[tuple[str, str]] = []
        if strength is Strength.WEAK:
            if self.e.anchored(target.counts) and self.e.anchored(other.counts):
                if (
                    anchor.weak_since is not None
                    and st.weak_since is None
                    and self._corroborated(ev, anchor, st)
                ):
                    # Corroborated weak evidence outweighs the one weak link that put the anchor
                    # where it is: the anchor moves to the person it is corroborated with.
                    self._withdraw(anchor, other, ev)
                    refuse(RefusedLink(*positions, "weak_link", "withdrawn"))
                    return other
                refuse(RefusedLink(*positions, "weak_link", "kept_apart"))
                return target
            if self._corroborated(ev, anchor, st):
                _confirm_link(anchor, st)
            elif declared:
                # Typed by the shopper, onto a side that no login names: applied at once; the
                # anonymous side is marked as joined by this link, to be withdrawn if contradicted.
                fresh = self._declared_side(anchor, target, st, other)
            elif self.e._attach_new and (self._fresh(anchor, target, ev) or self._fresh(st, other, ev)):
                # Onto an identifier first seen here: applied, and that side is marked as joined by
                # weak evidence (both sides when both are newcomers).
                if self._newcomer(anchor, target, ev):
                    fresh += [(k, st.key) for k in self.members.get(target.id, ())]
                if self._newcomer(st, other, ev):
                    fresh.append((st.key, anchor.key))
                if not fresh:
                    fresh = [
                        (anchor.key, st.key) if self._fresh(anchor, target, ev) else (st.key, anchor.key)
                    ]
            else:
                # Both sides have history of their own (a forwarded email clicked on a friend's
                # browser): recorded as a link, applied once corroborated.
                refuse(RefusedLink(*positions, "weak_link", "pending"))
                return target
        over = self.e.cap_violation(target.counts, other.counts)
        if (
            strength is Strength.STRONG
            and st.weak_since is not None
            and self.e.cap_violation(target.counts, Counter({st.type: 1})) is None
        ):
            movers = 1 + len(self._followers(st))
            if over is not None or (movers < sum(other.counts.values()) and self.e.anchored(other.counts)):
                # Strong evidence puts in another person (another login, say) an identifier that
                # only weak evidence put in a person that a login names: the identifier comes over,
                # with what was joined through it and the events they name; the rest of its person
                # stays (it is not pulled in through a weak link). Against a second login, that is
                # a withdrawal. A person no login names has nothing to contradict the weak link:
                # it is merged, as it would be had the strong evidence come first.
                self._withdraw(st, target, ev)
                if over is not None:
                    refuse(RefusedLink(*positions, "weak_link", "withdrawn"))
                return target
        if over is None:
            for key, via in fresh:  # joined a person with history on weak evidence alone
                self._flag(self.snap.identifiers[key], ev, self.snap.identifiers[via], declared=declared)
            return self._merge(target, other, result)
        rule = self._cap_rule(over)
        if strength is Strength.STRONG and self.e._types[st.type].shareable and over in self.e._anchor_types:
            self._unassign(st)
            st.shared = True
            st.weak_since = st.weak_via = None
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


def _confirm(*states: IdentifierState) -> None:
    """Strong evidence or corroboration: no longer joined by weak evidence alone."""
    for st in states:
        st.weak_since = st.weak_via = None


def _confirm_link(a: IdentifierState, b: IdentifierState) -> None:
    """Corroborated weak evidence between a and b: a weak mark that rested on this link goes."""
    for x, y in ((a, b), (b, a)):
        if x.weak_via == y.key:
            x.weak_since = x.weak_via = None


def _evidence_to(anchor_i: int, links: tuple[LinkEvidence, ...]) -> dict[int, EvidenceClass]:
    """The strongest evidence joining each identifier to the anchor, directly or through others
    (a path is as strong as its weakest link)."""
    best: dict[int, EvidenceClass] = {anchor_i: EvidenceClass.AUTHENTICATED}
    changed = True
    while changed:
        changed = False
        for link in links:
            for x, y in ((link.a, link.b), (link.b, link.a)):
                if x in best:
                    s = EvidenceClass.weakest(best[x], link.proves)
                    if y not in best or best[y].rank < s.rank:
                        best[y] = s
                        changed = True
    del best[anchor_i]
    return best
