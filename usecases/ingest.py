"""Ingest: a batch of channel events becomes stitched persons in the identity graph and folded
profiles in the profile store, before the call answers (read-your-writes).

Read `Ingest.__call__` top to bottom; the graph's transaction is `transaction` inside it.
1. The identity side validates and normalizes the batch and gathers its link evidence
   (`IdentityService.prepare`): one invalid event rejects it with nothing written.
2. One graph transaction (`IdentityGraph.stitch`) locks and reads the batch's identifiers and
   runs `transaction` over that snapshot, which
   - plans the batch (`IdentityService.plan`: erased persons' late events dropped, the engine's
     decisions);
   - folds the batch's events per person *before anything is written*, so an event that cannot
     be folded fails the batch with both stores untouched;
   - writes what is left to do after the commit as an outbox entry in the same transaction
     (usecases/after_commit.py), so a server that dies between the commits loses none of it: the
     outbox sweep (usecases/outbox_sweep.py) does it later.
   The store may run `transaction` again on a retried transaction; only the last run commits.
3. The profile store appends the events and merges; a person's events of the batch go into the
   stored profile folded one by one when they are few, else as the prefold merged in
   (`Prefold.into`). The append is idempotent by event id, so a batch retried after a failure between the
   two commits completes its profiles (`_catch_up`).
4. A weak link withdrawn by the batch (Plan.splits) moves its events to their owners now, with
   batches held off, like a detach (usecases/splits.py).
5. The change feed (changes/log.py) is told what the batch changed; then the outbox entry goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec

from changes.log import ChangeLog
from changes.model import Pending
from common.observability import span
from identity.identifiers import node_id
from identity.model import ChangeSet, ChannelEvent, Snapshot, StitchResult
from identity.ports import IdentityGraph
from identity.service import IdentityService, Plan, RawEvent
from profiles.events import EventFacts
from profiles.fold import Folder
from profiles.ports import LoggedEvent, Prefold, ProfileStore, Written
from profiles.state import ProfileState, encode_state
from usecases.after_commit import AfterCommit, outbox_entry
from usecases.split_gate import SplitGate
from usecases.splits import Splits

DEVICE_TYPES = ("device_id", "cookie")
"""Identifier types that name a device: the first of these on an event is where it happened."""


@dataclass(frozen=True, slots=True)
class Committed:
    """What one batch's graph transaction committed, and what its profile write needs."""

    plan: Plan
    logged: list[LoggedEvent]
    """Every stitched event as the profile store logs it."""
    prefolds: dict[str, Prefold]
    """The batch's events folded per (surviving) person, before the graph wrote."""
    tell: Pending | None
    """What the change feed is to be told once the profile store has committed."""
    outbox_id: str | None
    """The outbox entry written with the batch, deleted once everything after it is done."""


class Ingest:
    def __init__(
        self,
        *,
        identity: IdentityService,
        graph: IdentityGraph,
        store: ProfileStore,
        folder: Folder,
        gate: SplitGate,
        splits: Splits,
        shared_device_types: Sequence[str],
        changes: ChangeLog | None = None,
    ) -> None:
        self._identity = identity
        self._graph = graph
        self._store = store
        self._folder = folder
        self._gate = gate
        self._splits = splits
        self._shared_device_types = frozenset(shared_device_types)
        self._changes = changes

    def __call__(
        self, batch: Sequence[tuple[RawEvent, EventFacts]], *, field: str = "events"
    ) -> list[StitchResult]:
        facts_of: dict[str, EventFacts] = {}
        for raw, facts in batch:
            facts_of.setdefault(raw.event_id, facts)  # a repeated id: the first is the one recorded
        prepared = self._identity.prepare([raw for raw, _ in batch], field=field)

        def transaction(snap: Snapshot) -> tuple[ChangeSet, Committed]:
            plan = self._identity.plan(snap, prepared)
            logged, prefolds = self._fold_before_commit(facts_of, plan)
            tell = self._to_tell(plan, facts_of)
            if plan.splits or tell is not None:
                plan.changes.outbox = outbox_entry(AfterCommit(sorted(plan.splits), tell))
            entry = plan.changes.outbox
            return plan.changes, Committed(plan, logged, prefolds, tell, entry.id if entry else None)

        with self._gate.batch():
            with span("idstitch.stitch", attributes={"idstitch.batch.size": len(prepared.events)}) as s:
                done = self._graph.stitch(
                    keys=prepared.keys, pairs=prepared.pairs, event_ids=prepared.event_ids, plan=transaction
                )
                results = self._identity.committed(prepared, done.plan, s)
            written = self._append(done)
        if done.plan.splits:
            # An identifier weak evidence had put in a person was withdrawn: that person's events
            # go to whoever holds their identifiers now. Like a detach, with batches held off.
            self._splits.refold_held_off(sorted(done.plan.splits))
        if self._changes is not None and done.tell is not None:
            self._changes.tell(done.tell, written=written)
        if done.outbox_id is not None:
            self._graph.outbox_done([done.outbox_id])
        return results

    def _to_tell(self, plan: Plan, facts_of: Mapping[str, EventFacts]) -> Pending | None:
        """What the change feed must hear of this batch (None: nothing, or no feed)."""
        if self._changes is None:
            return None
        outcomes: list[tuple[str, str | None, str, Sequence[str]]] = [
            (r.event_id, r.person_id, r.outcome, r.merged_person_ids) for r in plan.results
        ]
        outcomes += [("", p, "withdrawn", ()) for p in sorted(plan.splits)]
        tell = self._changes.pending(outcomes, plan.merges, facts_of, plan.changed)
        return tell if tell.edges or tell.persons or tell.stale else None

    def _append(self, done: Committed) -> dict[str, Written]:
        """The batch into the profile store; returns the profiles it wrote (the change feed reads
        them back, and need not decode those still as written)."""
        with span("idstitch.profile.fold", attributes={"idstitch.events": len(done.logged)}) as s:
            appended = self._store.append(
                events=done.logged, merges=done.plan.merges, folding=self._folder, prefolded=done.prefolds
            )
            s.set_attribute("idstitch.events.new", len(appended.new))
            self._catch_up(done.plan.results, appended.new)
        return appended.written

    def _fold_before_commit(
        self, facts_of: Mapping[str, EventFacts], plan: Plan
    ) -> tuple[list[LoggedEvent], dict[str, Prefold]]:
        """The batch's events folded into a profile per person, inside the graph's transaction
        and before it writes: an event that fails to fold fails the batch with both stores
        untouched. The profile store may merge these in rather than fold the events again."""
        logged: list[LoggedEvent] = []
        by_person: dict[str, list[EventFacts]] = {}
        seen: set[str] = set()
        for ev, r in zip(plan.stitched, plan.results, strict=True):
            facts = self._complete(facts_of[ev.event_id], ev)
            logged.append(LoggedEvent(r.person_id, tuple(i.key for i in ev.identifiers), facts))
            if r.person_id is not None and r.outcome != "duplicate" and ev.event_id not in seen:
                seen.add(ev.event_id)
                by_person.setdefault(plan.merges.get(r.person_id, r.person_id), []).append(facts)
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
