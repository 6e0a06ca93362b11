"""The profile service: serves profiles by person or identifier, records traits (and other API
requests) as events of the person, and refolds after a split. Events reach profiles through the
Ingest unit of work (ingest/stitch_and_fold.py)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.errors import InvalidArgument
from identity.identifiers import node_id, type_of
from identity.model import OutboxEntry, SharedResolution
from identity.ports import IdentityGraph
from identity.service import MAX_EVENT_ID_BYTES, RESERVED_EVENT_ID_PREFIX, IdentityService
from privacy.records import PrivacyRecords
from profiles.after_commit import AfterCommit, outbox_entry
from profiles.change_log import ChangeLog
from profiles.events import TRAITS_EVENT, EventFacts, TraitValue
from profiles.fold import Folder
from profiles.gate import SplitGate
from profiles.ports import LoggedEvent, ProfileStore
from profiles.rules import ProfileRules
from profiles.segments import compile_segments
from profiles.state import ProfileState
from profiles.traits import check_trait
from profiles.view import ProfileReading, consent_of, read

log = logging.getLogger(__name__)
MAX_PROFILE_BATCH = 500
PERSONALIZATION = "personalization"
"""The consent purpose that covers reading a person's behavior for personalization."""


@dataclass(frozen=True, slots=True)
class ProfileKey:
    """A person id, or an identifier (type, value)."""

    person_id: str = ""
    identifier: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class FoundProfile:
    person_id: str
    state: ProfileState
    reading: ProfileReading
    restricted: bool = False
    """The person denied the personalization purpose: readers get no behavioral data."""


@dataclass(frozen=True, slots=True)
class Missing:
    reason: str  # unknown | shared | junk | blocklisted | invalid ...


@dataclass(frozen=True, slots=True)
class Detached:
    person_id: str
    new_person_id: str | None
    person_events: int
    new_person_events: int


@dataclass(frozen=True, slots=True)
class TraitInput:
    name: str
    kind: str | None
    """Which TraitValue field was set: text, integer, number, flag (None: none)."""
    value: object
    source: str
    updated_at: int | None


class ProfileService:
    def __init__(
        self,
        *,
        identity: IdentityService,
        graph: IdentityGraph,
        store: ProfileStore,
        records: PrivacyRecords | None,
        rules: ProfileRules,
        folder: Folder,
        gate: SplitGate,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        settle_seconds: float = 0.0,
        changes: ChangeLog | None = None,
        propagation_seconds: float = 0.0,
    ) -> None:
        """`propagation_seconds`: how long until a write of this server shows in every server's
        reads (their read caches hear of it through the change feed); 0: at once."""
        self.identity = identity
        self._graph = graph
        self.store = store
        self._records = records
        self.rules = rules
        self.folder = folder
        self._segments = compile_segments(rules.segments)
        self._clock = clock
        self.gate = gate
        self.settle_seconds = settle_seconds
        """With a profile store shared by several servers: how long after a split (or an erasure)
        to sweep again (see `after_settling`)."""
        self.changes = changes
        """The change feed, told of detaches and of traits and consent recorded here."""
        self.propagation_seconds = propagation_seconds

    # -- reads -------------------------------------------------------------------------------

    def person_of(self, key: ProfileKey, *, field: str = "key") -> str:
        if key.identifier is not None:
            t, v = key.identifier
            return self.identity.person_of(t, v, field=f"{field}.identifier")
        return self.identity.live_person(key.person_id, field=f"{field}.person_id")

    def get(self, key: ProfileKey, *, field: str = "key") -> FoundProfile:
        pid = self.person_of(key, field=field)
        return self._found(pid, self.store.get(pid))

    def get_many(self, keys: Sequence[ProfileKey], *, field: str = "keys") -> list[FoundProfile | Missing]:
        if len(keys) > MAX_PROFILE_BATCH:
            raise InvalidArgument(field, f"{len(keys)} keys; at most {MAX_PROFILE_BATCH}")
        asked = [self._asked(k, f"{field}[{i}]") for i, k in enumerate(keys)]
        # One graph read for the identifiers and one for the person ids, not one per key.
        by_key = self._graph.resolve_many({a[1] for a in asked if isinstance(a, tuple) and a[0] == "key"})
        by_id = self._graph.live_persons({a[1] for a in asked if isinstance(a, tuple) and a[0] == "id"})
        persons: list[str | Missing] = []
        for a in asked:
            if isinstance(a, Missing):
                persons.append(a)
                continue
            found = by_key.get(a[1]) if a[0] == "key" else by_id.get(a[1])
            if isinstance(found, SharedResolution):
                persons.append(Missing("shared"))
            else:
                persons.append(found if found is not None else Missing("unknown"))
        states = self.store.get_many({p for p in persons if isinstance(p, str)})
        return [p if isinstance(p, Missing) else self._found(p, states.get(p)) for p in persons]

    def _asked(self, key: ProfileKey, field: str) -> tuple[str, str] | Missing:
        """What a key asks the graph for: ("key", an identifier's stored key) or ("id", a
        person id); Missing when an identifier's value never resolves."""
        if key.identifier is not None:
            t, v = key.identifier
            ident = self.identity.key_of(t, v, field=f"{field}.identifier")
            return Missing(ident) if isinstance(ident, str) else ("key", ident.key)
        if not key.person_id.strip():
            raise InvalidArgument(f"{field}.person_id", "required")
        return ("id", key.person_id)

    def _found(self, pid: str, state: ProfileState | None) -> FoundProfile:
        state = state if state is not None else ProfileState()
        restricted = any(c.purpose == PERSONALIZATION and not c.granted for c in consent_of(state))
        reading = read(state, folder=self.folder, segments=self._segments, now=self._clock())
        return FoundProfile(pid, state, reading, restricted)

    # -- traits ------------------------------------------------------------------------------

    def update_traits(
        self, key: ProfileKey, request_id: str, traits: Sequence[TraitInput]
    ) -> tuple[str, bool]:
        """Records the traits as an event of the person, so they merge and split with the person.
        Returns the person id and whether the request was new."""
        check_request_id(request_id)
        if not traits:
            raise InvalidArgument("traits", "at least one trait is required")
        now = self._clock()
        values: dict[str, TraitValue] = {}
        for i, t in enumerate(traits):
            field = f"traits[{i}]"
            value = check_trait(self.rules.traits, t.name, t.kind, t.value, field)
            if not t.source.strip():
                raise InvalidArgument(f"{field}.source", "required")
            if t.name in values:
                raise InvalidArgument(f"{field}.name", "the same trait is given twice")
            values[t.name] = TraitValue(value, t.source, t.updated_at if t.updated_at is not None else now)
        at = max(v.at for v in values.values())
        return self.record_request(
            key,
            TRAITS_EVENT,
            request_id,
            lambda eid, _: EventFacts(eid, at, "api", TRAITS_EVENT, traits=values),
        )

    def record_request(
        self,
        key: ProfileKey,
        kind: str,
        request_id: str,
        make: Callable[[str, str], EventFacts],
        *,
        field: str = "key",
    ) -> tuple[str, bool]:
        """Records an API request (traits, consent) as an event of the person `key` names, so it
        merges and splits with the person; idempotent by request id. `make(event_id, subject)` builds
        the facts, `subject` being the node id of the identifier it came through ("" for a person id).
        Returns the person id and whether the request was new."""
        check_request_id(request_id)
        pid = self.person_of(key, field=field)
        keys: tuple[str, ...] = ()
        subject = ""
        if key.identifier is not None:
            ident = self.identity.key_of(*key.identifier, field=f"{field}.identifier")
            if not isinstance(ident, str):
                keys, subject = (ident.key,), node_id(ident.key)
        facts = make(f"{RESERVED_EVENT_ID_PREFIX}{kind}:{request_id}", subject)
        new = self.store.append(events=[LoggedEvent(pid, keys, facts)], merges={}, folding=self.folder)
        if self.changes is not None:  # a retry too: its first attempt may have stored and not told
            self.changes.touched([pid])
        return pid, bool(new)

    # -- splits ------------------------------------------------------------------------------

    def detach(self, type_name: str, value: str, *, to_new_person: bool, caller: str = "") -> Detached:
        """Detaches an identifier from its person (IdentityService.detach) and refolds both parts,
        so the detached part's events leave the person's profile. An admin change: audited."""
        entry_id = uuid.uuid4().hex
        changes = self.changes

        def unfinished(left: str, new: str | None) -> OutboxEntry:  # what is left if we die here
            parts = [left] if new is None else [left, new]
            tell = changes.pending_split(left, parts[1:]) if changes is not None else None
            return outbox_entry(AfterCommit(parts, tell), entry_id)

        with self.gate.split():
            left, new = self.identity.detach(
                type_name, value, to_new_person=to_new_person, now=self._clock(), outbox=unfinished
            )
            parts = [left] if new is None else [left, new]
            counts = self.refold_after_split(parts)
        self.after_settling("split", lambda: self._refold_and_tell(parts))
        if changes is not None:
            changes.tell(changes.pending_split(left, parts[1:]))
        self._graph.outbox_done([entry_id])
        done = Detached(left, new, counts.get(left, 0), counts.get(new, 0) if new else 0)
        if self._records is not None:
            detail = {"mode": "new_person" if new else "shared", "person_events": done.person_events,
                      "new_person_events": done.new_person_events}  # fmt: skip
            self._records.audit(self._clock(), caller, "detach_identifier", detail)
        self.propagated()
        return done

    def propagated(self) -> None:
        """Returns once every server answers reads as of now (their read caches have heard of this
        server's writes): a detach or an erasure returns only then, so that no server answers
        for the old person afterwards."""
        if self.propagation_seconds > 0:
            time.sleep(self.propagation_seconds)

    def _refold_and_tell(self, person_ids: Sequence[str]) -> None:
        """A split's settle sweep: what it moves is a change other servers must hear of."""
        moved = self.refold_after_split(person_ids)
        if self.changes is not None:
            self.changes.touched(moved)

    def after_settling(self, what: str, sweep: Callable[[], object]) -> None:
        """Runs `sweep` again once batches in flight on other servers have landed. The gate keeps
        this server's batches out of a split, but another server may have stitched a batch before
        the split and append it to the profile store after the split moved the events: that batch
        lands in the old person. Splits and erasures are idempotent, so running them again once
        `settle_seconds` have passed (longer than a batch takes) moves such stragglers too. A server
        that stops within that time skips the sweep; the split or erasure itself is complete."""
        if self.settle_seconds <= 0:
            return

        def run() -> None:
            try:
                with self.gate.split():
                    sweep()
            except Exception as e:
                log.warning("the settle sweep after a %s failed: %s", what, e.__class__.__name__)

        timer = threading.Timer(self.settle_seconds, run)
        timer.daemon = True
        timer.start()

    def refold_after_split(self, person_ids: Sequence[str]) -> dict[str, int]:
        """Gives each event of these persons to its owner (owner_rule) and refolds every person
        involved."""
        return self.store.reattribute(person_ids=person_ids, owner=self.owner_rule(), folding=self.folder)

    def owner_rule(self) -> Callable[[LoggedEvent], str | None]:
        """Who an event belongs to now: the person holding its highest-priority identifier (the
        rule that picked its person at ingest), else the person it has."""
        types = self.identity.types
        cache: dict[str, str | None] = {}

        def holder(key: str) -> str | None:
            if key not in cache:
                found = self._graph.resolve(key)
                cache[key] = found if isinstance(found, str) else None
            return cache[key]

        def owner(e: LoggedEvent) -> str | None:
            ranked = sorted(e.keys, key=lambda k: -types[t].priority if (t := type_of(k)) in types else 0)
            for k in ranked:
                pid = holder(k)
                if pid is not None:
                    return pid
            return e.person_id

        return owner


def check_request_id(request_id: str) -> None:
    if not request_id.strip():
        raise InvalidArgument("request_id", "required")
    if len(request_id.encode()) > MAX_EVENT_ID_BYTES:
        raise InvalidArgument("request_id", f"longer than {MAX_EVENT_ID_BYTES} bytes")
