"""How a batch judges weak evidence (an email click, a form, a receipt): whether an identifier is
new to the graph, whether a weak link is corroborated, and withdrawing a weak attach that later
evidence contradicts — with whatever weak links joined through it. The engine's docstring says
when each applies."""

from __future__ import annotations

from collections import Counter

from identity.batch_state import BatchState, edge_key
from identity.model import ChannelEvent, IdentifierState, PersonState

DECLARED_MARK = 0
"""`weak_since` of an identifier joined by a declared link: earlier than any sighting."""


class WeakEvidence(BatchState):
    def _fresh(self, st: IdentifierState, person: PersonState, ev: ChannelEvent) -> bool:
        """Whether `st` is first seen in this event: no sighting of it occurred earlier, whatever
        arrived before (so a link is judged as it would have been in time order)."""
        return person.new or st.first_seen == ev.occurred_at

    def _newcomer(self, st: IdentifierState, person: PersonState, ev: ChannelEvent) -> bool:
        """First seen here and alone in its person: joining another person, it is the side joined."""
        return self._fresh(st, person, ev) and (person.new or sum(person.counts.values()) <= 1)

    def _corroborated(self, ev: ChannelEvent, anchor: IdentifierState, st: IdentifierState) -> bool:
        """Whether this event and the earlier ones showing the same link are enough weak evidence:
        the configured number of events, spread over the configured time."""
        pair = edge_key(anchor.key, st.key)
        edge = self.changes.edges.get(pair) or self.snap.edges.get(pair)
        if edge is None:
            return self.e.corroborating_events <= 1
        at = ev.occurred_at
        return (
            edge.event_count + 1 >= self.e.corroborating_events
            and max(edge.last_seen, at) - min(edge.first_seen, at) >= self.e.corroborating_us
        )

    def _flag(self, st: IdentifierState, ev: ChannelEvent, via: IdentifierState, *, declared: bool) -> None:
        """Marks `st` as joined to its person by this event's weak link to `via`. A declared
        link's mark carries no time (DECLARED_MARK): it held whatever history either side had, so
        a late sighting never re-judges it — only contradicting evidence withdraws it."""
        st.weak_since, st.weak_via = (DECLARED_MARK if declared else ev.occurred_at), via.key
        self.joined_via[via.key].add(st.key)
        self.changes.identifiers[st.key] = st

    def _partner_history_found(self, d: IdentifierState, partner: IdentifierState, ev: ChannelEvent) -> None:
        """`d` was joined through a weak link to `partner` while `partner` looked new; a sighting of
        `partner` from before that link arrived. If `d` had history before the link too, neither
        side was new: the link is pending, and `d` is withdrawn."""
        since = d.weak_since
        if d.weak_via != partner.key or since is None or d.person_id != partner.person_id:
            return
        if partner.first_seen < since and d.first_seen < since:
            self._withdraw(d, None, ev)
            self.changes.identifiers[d.key] = d

    def _history_found(self, st: IdentifierState, ev: ChannelEvent) -> None:
        """A sighting from before the weak link that joined `st` as a new identifier arrived late:
        `st` had history of its own. The link stands if the identifier it joined was itself first
        seen in the linking event (then that one is the weakly joined side); otherwise both sides
        have history, the link is pending, and `st` is withdrawn — as in time order."""
        partner = self.snap.identifiers.get(st.weak_via) if st.weak_via else None
        if partner is not None and partner.person_id == st.person_id and partner.first_seen == st.weak_since:
            if partner.weak_since is not None:  # both were new: the partner is the side joined
                st.weak_since = st.weak_via = None
            # Else the partner was confirmed since, and `st` stays joined by weak evidence only:
            # a contradiction still withdraws it.
            return
        self._withdraw(st, None, ev)

    def _followers(self, st: IdentifierState) -> list[IdentifierState]:
        """The identifiers of st's person that weak links joined through st, directly or not."""
        out: list[IdentifierState] = []
        todo = [st]
        while todo:
            via = todo.pop()
            for k in sorted(self.joined_via.get(via.key, ())):
                f = self.snap.identifiers[k]
                if (
                    f.person_id == st.person_id
                    and f.weak_via == via.key
                    and f.weak_since is not None
                    and f not in out
                ):
                    out.append(f)
                    todo.append(f)
        return out

    def _withdraw(self, st: IdentifierState, to: PersonState | None, ev: ChannelEvent) -> None:
        """Takes a weakly attached identifier from its person, to `to` or to a person of its own.
        The person it left is refolded after the commit (its events follow their identifiers)."""
        left = self.snap.persons[st.person_id]  # type: ignore[index]
        if to is None and sum(left.counts.values()) <= 1:
            st.weak_since = st.weak_via = None  # alone in its person already
            return
        followers = self._followers(st)  # what weak links joined through it goes with it
        self.changes.splits.add(left.id)
        if to is None:
            to = PersonState(
                self.e.person_id(f"withdrawn\x00{ev.event_id}", st.key), st.first_seen, Counter()
            )
            self.snap.persons[to.id] = to
            self.changes.new_persons[to.id] = to.first_seen
        for moving in (st, *followers):
            if self.e.cap_violation(to.counts, Counter({moving.type: 1})) is not None:
                continue
            self._unassign(moving)
            self._assign(moving, to)
            self.changes.identifiers[moving.key] = moving
        st.weak_since = st.weak_via = None

    def _cap_rule(self, over: str) -> str:
        return "unique_type" if self.e.cap_of(over) == 1 else "type_cap"
