"""What the change feed says about persons, and when.

Merges, splits, erasures and orders are told as they happen: they are facts of a batch, a detach
or an erasure. Everything else is told by comparing: after a batch, a detach or a trait update,
each person touched is *observed* — their profile read and compared with what the feed last told
about them (`Watched`: a digest per section, segments, whether the cart was told abandoned) — and
what differs becomes changes, recorded with the new told state in one write; a person the feed
has never told about is told created. A change is therefore told once however often a person is
observed, and a transition that happens with time alone (a cart going quiet, a segment rule on
days since the last visit turning) is told by the sweeper, which observes a person at the moment
their told state said time alone could change it (`Watched.due`), and only then.

Consent: a person who denied `personalization` produces identity changes only; one who denied
`marketing_email` produces no cart-abandoned changes.
"""

from __future__ import annotations

import hashlib
import math
import operator
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace

import msgspec

from changes.model import (
    CART_ABANDONED,
    IDENTITY_KINDS,
    INTERNAL_KINDS,
    INVALIDATED,
    ORDER_PLACED,
    PERSON_CREATED,
    PERSON_ERASED,
    PERSON_SPLIT,
    PERSONS_MERGED,
    PROFILE_UPDATED,
    SEGMENT_ENTERED,
    SEGMENT_LEFT,
    Change,
    Detail,
    Pending,
    Watched,
    named_by,
)
from changes.ports import ChangeFeed
from common.observability import span
from profiles.events import EventFacts
from profiles.fold import MICROS_PER_DAY, Folder
from profiles.ports import ProfileStore, Written
from profiles.segments import CLOCKS, Rule
from profiles.state import ProfileState
from profiles.view import CartStatus, cart_status, consent_of, read

SECTIONS: dict[str, tuple[str, ...]] = {
    "context": ("events", "first_seen", "last_seen", "channels", "devices", "last_context", "hours",
                "weekdays", "referrers", "cities"),
    "behavior": ("viewed_products", "viewed_categories", "cart", "checkout_at", "sessions"),
    "history": ("orders", "orders_online", "revenue", "revenue_online", "first_order", "last_order",
                "bought", "discounted_orders", "discount_total", "loyalty_since", "email_opens",
                "email_clicks", "last_click"),
    "affinities": ("ref", "categories", "brands", "price_tiers"),
    "traits": ("traits",),
    "consent": ("consent",),
}  # fmt: skip
"""The profile's sections (as GetProfile shows them) and the stored fields each is made of."""
PERSONALIZATION, MARKETING_EMAIL = "personalization", "marketing_email"
OBSERVE_CHUNK = 500
_encode = msgspec.msgpack.Encoder().encode


def _section(fields: tuple[str, ...]) -> Callable[[ProfileState], tuple[object, ...]]:
    """The section's fields as a tuple (msgpack encodes it as the list told digests were made of)."""
    if len(fields) == 1:
        one = operator.attrgetter(fields[0])
        return lambda state: (one(state),)
    return operator.attrgetter(*fields)


_SECTION_OF = [(name, _section(fields)) for name, fields in SECTIONS.items()]


def digests(state: ProfileState) -> dict[str, str]:
    return {
        name: hashlib.blake2b(_encode(fields(state)), digest_size=8).hexdigest()
        for name, fields in _SECTION_OF
    }


EMPTY = digests(ProfileState())


def store_of(state: ProfileState, before: str) -> str:
    """The person's store: their preferred_store trait, else where their latest in-store event was."""
    trait = state.traits.get("preferred_store")
    if trait is not None and isinstance(trait.value, str) and trait.value:
        return trait.value
    last = state.last_context
    return last.store_id if last is not None and last.store_id else before


class ChangeLog:
    def __init__(
        self,
        *,
        feed: ChangeFeed,
        store: ProfileStore,
        folder: Folder,
        segments: Mapping[str, Rule],
        clocks: Mapping[str, Sequence[float]] | None = None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        """`clocks`: the days the segment rules compare each clock field with
        (profiles.segments.clocks), which say when time alone can change a segment."""
        self.feed = feed
        self._store = store
        self._folder = folder
        self._segments = segments
        self._clocks = {field: tuple(days) for field, days in (clocks or {}).items()}
        self._quiet_us = int(folder.rules.abandoned_cart_minutes * 60_000_000)
        self._clock = clock
        self._purchase = folder.rules.event_types.purchase
        self._online = folder.rules.online_channels
        self._lock = threading.Lock()
        """Observations of this server one at a time: each compares with the told state the
        previous one wrote."""
        self.recorded = threading.Condition()
        """Notified after every write, so that watchers on this server wake at once."""

    # -- what happens ------------------------------------------------------------------------

    def pending(
        self,
        outcomes: Iterable[tuple[str, str | None, str, Sequence[str]]],
        merges: Mapping[str, str],
        facts: Mapping[str, EventFacts],
        changed: Collection[str] = (),
    ) -> Pending:
        """What a stitched batch has to tell, from its `outcomes`: (event id, person id, outcome,
        merged person ids), and `changed`, every person whose answers it can change (each is
        named by a change, for the other servers' read caches). Told by `tell` once the batch is
        in both stores."""
        now = self._clock()
        edges: list[Change] = []
        persons: set[str] = set()
        for event_id, pid, outcome, merged in outcomes:
            if pid is None or outcome in ("suppressed", "unattributed"):
                continue
            pid = merges.get(pid, pid)
            persons.add(pid)
            if outcome == "merged":
                edges.append(Change(pid, PERSONS_MERGED, now, {"merged_person_ids": sorted(merged)}))
            f = facts.get(event_id)
            if outcome != "duplicate" and f is not None and f.type in self._purchase:
                online = f.channel in self._online
                order: Detail = {"channel": "online" if online else "in_store", "store_id": f.store_id}
                edges.append(Change(pid, ORDER_PLACED, now, order, f.store_id))
        return Pending(edges, sorted(persons), sorted(merges), stale=sorted(changed))

    def tell(
        self,
        pending: Pending,
        live: Mapping[str, str] | None = None,
        *,
        written: Mapping[str, Written] | None = None,
    ) -> None:
        """Tells what a batch changed. `live`: where each person of a batch told late (by the
        outbox sweep) is now — a person merged since is told as its survivor, one erased since
        (absent) not at all. `written`: the profiles the batch's append wrote; each person is
        still read back, and found as written unless a later write changed them."""
        edges, persons, exist = pending.edges, set(pending.persons), set(pending.exist)
        stale = set(pending.stale)
        if live is not None:
            edges = [replace(e, person_id=live[e.person_id]) for e in edges if e.person_id in live]
            persons = {live[p] for p in persons if p in live}
            exist = {live[p] for p in exist if p in live}
            stale = {live[p] for p in stale if p in live}
        self._observe(persons, edges, gone=set(pending.gone), exist=exist, stale=stale, known=written)

    def latest(self, person_ids: Collection[str], limit: int) -> list[Change]:
        """The latest changes recorded about these persons, newest first, as watchers see them
        (internal kinds left out)."""
        return [c for c in self.feed.of_persons(person_ids, limit) if c.kind not in INTERNAL_KINDS][:limit]

    def pending_split(self, person_id: str, new_person_ids: Sequence[str]) -> Pending:
        edge = Change(person_id, PERSON_SPLIT, self._clock(), {"new_person_ids": sorted(new_person_ids)})
        parts = sorted({person_id, *new_person_ids})
        return Pending([edge], parts, [], sorted(new_person_ids), stale=parts)

    def touched(self, person_ids: Collection[str], *, written: Mapping[str, Written] | None = None) -> None:
        """A person's profile changed outside a batch (traits, consent)."""
        self._observe(set(person_ids), [], stale=person_ids, known=written)

    def erased(self, person_id: str, aliases: Collection[str]) -> None:
        """Removes the person's earlier changes from the feed, then tells that they are gone."""
        with self._lock:
            self.feed.forget({person_id, *aliases})
            self.feed.record([Change(person_id, PERSON_ERASED, self._clock())], {})
        self._notify()

    def sweep(self, budget: int = 10_000, stop: threading.Event | None = None) -> int:
        """Observes the persons whose told state time alone can have changed by now; returns how
        many. `stop` ends it between pages (the server is shutting down)."""
        now, seen, after = self._clock(), 0, ""
        while seen < budget and not (stop is not None and stop.is_set()):
            page, token = self.feed.due(now, min(OBSERVE_CHUNK, budget - seen), after)
            told = self.feed.told(page)
            due = {p for p in page if p in told and 0 < told[p].due <= now}  # not moved on since
            self._observe(due, [])
            seen += len(due)
            if token == after:
                break
            after = token
        return seen

    # -- observing ---------------------------------------------------------------------------

    def _observe(
        self,
        persons: set[str],
        edges: list[Change],
        gone: Collection[str] = (),
        exist: Collection[str] = (),
        stale: Collection[str] = (),
        known: Mapping[str, Written] | None = None,
    ) -> None:
        """`gone`: persons merged away (their told state goes); `exist`: persons known to exist even
        without a profile (a split's new part that holds no event yet); `stale`: persons a write
        changed, each to be named by some change (`invalidated` when by no other)."""
        if not persons and not edges and not stale:
            return
        with span("idstitch.changes.observe", attributes={"idstitch.persons": len(persons)}), self._lock:
            now = self._clock()
            states = self._store.get_many(persons, known=known)
            told = self.feed.told(persons)
            out: list[Change] = []
            new_told: dict[str, Watched | None] = {p: None for p in gone if p not in persons}
            allowed = {p: self._allowed(s) for p, s in states.items()}
            for e in edges:  # recorded at the observation's time, so times follow the feed's order
                if e.kind in IDENTITY_KINDS or allowed.get(e.person_id, (True, True))[0]:
                    prior = told.get(e.person_id)
                    store = e.store_id or (prior.store_id if prior is not None else "")
                    out.append(Change(e.person_id, e.kind, now, e.detail, store))
            for pid in sorted(persons):
                state = states.get(pid)
                if state is None:
                    if pid in exist and pid not in told:
                        out.append(Change(pid, PERSON_CREATED, now))
                        new_told[pid] = Watched()
                    continue
                personal, email = allowed[pid]
                before = told.get(pid)
                if before is None:  # first seen by the feed (a new person, or a split's new part)
                    out.insert(0, Change(pid, PERSON_CREATED, now, {}, store_of(state, "")))
                changes, watched = self._compare(pid, state, before, now, email)
                if personal:
                    out.extend(changes)
                else:  # told nothing: once allowed again, everything differs and is told
                    watched = Watched(store_id=watched.store_id)
                if watched != before:  # a sweep of persons time did not change writes nothing
                    new_told[pid] = watched
            named = {p for c in out for p in named_by(c)}
            out += [Change(p, INVALIDATED, now) for p in sorted(set(stale) - named)]
            if out or new_told:
                self.feed.record(out, new_told)
        if out:
            self._notify()

    def _compare(
        self, pid: str, state: ProfileState, before: Watched | None, now: int, email: bool
    ) -> tuple[list[Change], Watched]:
        was = before or Watched()
        store = store_of(state, was.store_id)
        if self._segments:
            reading = read(state, folder=self._folder, segments=self._segments, now=now)
            segments = tuple(sorted(reading.segments))
            cart: CartStatus | None = CartStatus(
                reading.cart, reading.cart_last_activity, reading.cart_abandoned
            )
        else:  # of a reading, only the cart can say something: it alone is worked out
            segments = ()
            cart = (
                cart_status(state, folder=self._folder, now=now) if state.cart or was.cart_abandoned else None
            )
        sections = digests(state)
        out: list[Change] = []
        told = was.sections or EMPTY  # a new person: the sections that say something
        changed = [s for s in SECTIONS if sections[s] != told.get(s)]
        if changed:
            out.append(Change(pid, PROFILE_UPDATED, now, {"sections": changed}, store))
        if cart is None:
            return out, Watched(sections, (), False, store)
        for name in sorted(set(segments) - set(was.segments)):
            out.append(Change(pid, SEGMENT_ENTERED, now, {"segment": name}, store))
        for name in sorted(set(was.segments) - set(segments)):
            out.append(Change(pid, SEGMENT_LEFT, now, {"segment": name}, store))
        abandoned = cart.abandoned
        if abandoned and not was.cart_abandoned and email:
            detail: Detail = {"last_cart_activity": cart.last_activity or 0, "items": len(cart.lines)}
            out.append(Change(pid, CART_ABANDONED, now, detail, store))
        return out, Watched(sections, segments, abandoned, store, self._due(state, cart, now))

    def _due(self, state: ProfileState, cart: CartStatus, now: int) -> int:
        """The first moment after `now` at which time alone can change what was read: the open
        cart going quiet, or a clock of the segment rules crossing one of its numbers (the rules'
        truth is constant between these moments). 0: none. One µs past the crossing, so that `>`
        and `>=` have both turned."""
        moments = []
        if cart.lines and not cart.abandoned and cart.last_activity is not None:
            moments.append(cart.last_activity + self._quiet_us)
        for field, days in self._clocks.items():
            since = getattr(state, CLOCKS[field])
            if since is not None:
                moments += [t for d in days if (t := since + math.ceil(d * MICROS_PER_DAY) + 1) > now]
        return min(moments, default=0)

    @staticmethod
    def _allowed(state: ProfileState) -> tuple[bool, bool]:
        """(profile changes allowed, cart-abandoned changes allowed) by the person's consent."""
        denied = {c.purpose for c in consent_of(state) if not c.granted}
        personal = PERSONALIZATION not in denied
        return personal, personal and MARKETING_EMAIL not in denied

    def _notify(self) -> None:
        with self.recorded:
            self.recorded.notify_all()
