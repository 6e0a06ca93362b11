"""The unit of work of Ingest: a batch of channel events becomes stitched persons in the identity
graph and folded profiles in the profile store, before the call answers (read-your-writes).

1. The identity service normalizes the events, drops those privacy suppressions name (an erased
   person's late events), and stitches the batch in one graph transaction.
2. Inside that transaction, before the graph writes, the batch's events are folded per person
   (`_fold_before_commit`): an event that cannot be folded fails the batch with both stores
   untouched.
3. The profile store appends the events and merges, taking those folds in rather than folding the
   events again. The two stores commit one after the other; the append is idempotent by event
   id, so a batch retried after a failure between the commits completes its profiles
   (`_catch_up`).
4. A weak link withdrawn by the batch (ChangeSet.splits) moves its events to their owners now,
   with batches held off, like a detach.
5. The change feed (profiles/change_log.py) is told what the batch changed, after both commits.
   What is left to do after the graph's commit — the refolds of step 4, what the feed must be
   told — is also written in the graph's transaction (an outbox entry, profiles/after_commit.py,
   deleted once done), so that a server that dies between the commits loses none of it: the
   outbox sweep (ingest/outbox.py) does it later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from changes.model import Pending
from common.observability import span
from identity.identifiers import node_id
from identity.model import ChannelEvent, OutboxEntry, StitchResult
from identity.ports import IdentityGraph
from identity.service import IdentityService, RawEvent
from profiles.after_commit import AfterCommit, outbox_entry
from profiles.change_log import ChangeLog
from profiles.events import EventFacts
from profiles.fold import Folder
from profiles.gate import SplitGate
from profiles.ports import LoggedEvent, Prefold, ProfileStore
from profiles.state import ProfileState, encode_state

DEVICE_TYPES = ("device_id", "cookie")
"""Identifier types that name a device: the first of these on an event is where it happened."""


class StitchAndFold:
    def __init__(
        self,
        *,
        identity: IdentityService,
        graph: IdentityGraph,
        store: ProfileStore,
        folder: Folder,
        gate: SplitGate,
        refold_after_split: Callable[[Sequence[str]], object],
        shared_device_types: Sequence[str],
        changes: ChangeLog | None = None,
    ) -> None:
        self._identity = identity
        self._graph = graph
        self._store = store
        self._folder = folder
        self._gate = gate
        self._refold_after_split = refold_after_split
        self._shared_device_types = frozenset(shared_device_types)
        self._changes = changes

    def __call__(
        self, batch: Sequence[tuple[RawEvent, EventFacts]], *, field: str = "events"
    ) -> list[StitchResult]:
        facts_of: dict[str, EventFacts] = {}
        for raw, facts in batch:
            facts_of.setdefault(raw.event_id, facts)  # a repeated id: the first is the one recorded

        def fold(
            events: list[ChannelEvent], results: list[StitchResult], merges: dict[str, str]
        ) -> tuple[list[LoggedEvent], dict[str, Prefold]]:
            return self._fold_before_commit(facts_of, events, results, merges)

        to_tell: list[Pending] = []

        def unfinished(
            results: list[StitchResult],
            merges: dict[str, str],
            splits: frozenset[str],
            changed: frozenset[str],
        ) -> OutboxEntry | None:
            """What is left to do if this server dies once the graph has committed."""
            tell = None
            if self._changes is not None:
                outcomes: list[tuple[str, str | None, str, Sequence[str]]] = [
                    (r.event_id, r.person_id, r.outcome, r.merged_person_ids) for r in results
                ]
                outcomes += [("", p, "withdrawn", ()) for p in sorted(splits)]
                tell = self._changes.pending(outcomes, merges, facts_of, changed)
                to_tell[:] = [tell]  # the plan's last run is the one that commits
                tell = tell if tell.edges or tell.persons or tell.stale else None
            if not splits and tell is None:
                return None
            return outbox_entry(AfterCommit(sorted(splits), tell))

        with self._gate.batch():
            stitched = self._identity.stitch(
                [raw for raw, _ in batch], field=field, before_commit=fold, outbox=unfinished
            )
            if stitched.prepared is not None:
                logged, prefolds = stitched.prepared
                with span("idstitch.profile.fold", attributes={"idstitch.events": len(logged)}) as s:
                    new = self._store.append(
                        events=logged, merges=stitched.merges, folding=self._folder, prefolded=prefolds
                    )
                    s.set_attribute("idstitch.events.new", len(new))
                    self._catch_up(stitched.results, new)
        if stitched.splits:
            # An identifier weak evidence had put in a person was withdrawn: that person's events
            # go to whoever holds their identifiers now. Like a detach, with batches held off.
            with self._gate.split():
                self._refold_after_split(sorted(stitched.splits))
        if self._changes is not None and to_tell:
            self._changes.tell(to_tell[0])
        if stitched.outbox_id is not None:
            self._graph.outbox_done([stitched.outbox_id])
        return stitched.results

    def _fold_before_commit(
        self,
        facts_of: dict[str, EventFacts],
        events: list[ChannelEvent],
        results: list[StitchResult],
        merges: dict[str, str],
    ) -> tuple[list[LoggedEvent], dict[str, Prefold]]:
        """The batch's events folded into a profile per person, inside the graph's transaction
        and before it writes: an event that fails to fold fails the batch with both stores
        untouched. The profile store merges these in rather than folding the events again."""
        logged: list[LoggedEvent] = []
        by_person: dict[str, list[EventFacts]] = {}
        seen: set[str] = set()
        for ev, r in zip(events, results, strict=True):
            facts = self._complete(facts_of[ev.event_id], ev)
            logged.append(LoggedEvent(r.person_id, tuple(i.key for i in ev.identifiers), facts))
            if r.person_id is not None and r.outcome != "duplicate" and ev.event_id not in seen:
                seen.add(ev.event_id)
                by_person.setdefault(merges.get(r.person_id, r.person_id), []).append(facts)
        prefolds = {}
        with span("idstitch.profile.prefold", attributes={"idstitch.events": len(seen)}):
            for pid, person_facts in by_person.items():
                # Newest first: decayed scores are held against the newest event, never rescaled.
                person_facts.sort(key=lambda f: f.occurred_at, reverse=True)
                state = self._folder.fold(ProfileState(), person_facts)
                encode_state(state)  # what the store will write must encode
                prefolds[pid] = Prefold(frozenset(f.event_id for f in person_facts), state)
        return logged, prefolds

    def _catch_up(self, results: Sequence[StitchResult], new: set[str]) -> None:
        """Completes a batch retried after a failure between the graph's commit and the profile
        store's: its events are duplicates to the graph but new to the profile store, and the
        merges that first attempt made are known only to the graph. Merging every alias the graph
        holds for those persons brings them over (merging a known alias again changes nothing)."""
        persons = {
            r.person_id for r in results if r.outcome == "duplicate" and r.event_id in new and r.person_id
        }
        merges = {}
        for pid in persons:
            graph = self._graph.person_graph(pid)
            if graph is not None:
                merges.update(dict.fromkeys(graph.aliases, graph.person_id))
        if merges:
            self._store.append(events=[], merges=merges, folding=self._folder)

    def _complete(self, facts: EventFacts, ev: ChannelEvent) -> EventFacts:
        """Adds what only stitching knows: identifier types and the device, as a node id."""
        device = ""
        if ev.device_type not in self._shared_device_types:
            for t in DEVICE_TYPES:
                device = next((node_id(i.key) for i in ev.identifiers if i.type == t), "")
                if device:
                    break
        return msgspec.structs.replace(
            facts, identifier_types=tuple(sorted({i.type for i in ev.identifiers})), device=device
        )
