"""Data-subject requests: erasure (GDPR Art. 17), export (Art. 15/20) and consent.

Erasure follows the graph: the person's own identifiers, every link touching them, its use of
shared identifiers (a household tablet stays, for the others), its aliases, its events in both
stores and its profile. Before anything is deleted, each erased identifier goes on the suppression
list (a keyed hash and the erasure time), so an event that occurred before the erasure and names
one is dropped at ingest — however late it arrives — while activity after the erasure starts a new
person. The erasure is recorded as started (with the person id) before it deletes, and a retry with
the same request id finishes an interrupted one; the finished receipt holds counts only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from changes.log import ChangeLog
from common.errors import InvalidArgument, NotFound
from common.observability import erasures, span
from identity.model import PersonGraph
from identity.ports import IdentityGraph
from identity.service import IdentityService
from privacy.records import ErasureRecord, PrivacyRecords
from profiles.events import CONSENT_EVENT, ConsentValue, EventFacts
from profiles.ports import LoggedEvent, ProfileStore
from profiles.reader import FoundProfile, ProfileKey, ProfileReader
from profiles.view import ConsentStatus, consent_of
from usecases.person_requests import PersonRequests, check_request_id
from usecases.splits import Splits


@dataclass(frozen=True, slots=True)
class Export:
    person: PersonGraph
    profile: FoundProfile
    consent: list[ConsentStatus]
    events: list[LoggedEvent]


EVER = 2**63 - 1
"""The erasure time of a suppressed event id: a replay of it is dropped whenever it occurred."""
GRAPH_COUNTS = (
    "identifiers", "links", "aliases", "shared_identifier_uses", "suppressed_identifiers",
    "other_persons_events_scrubbed", "held_back_links",
)  # fmt: skip


class PrivacyRequests:
    def __init__(
        self,
        *,
        identity: IdentityService,
        profiles: ProfileReader,
        requests: PersonRequests,
        splits: Splits,
        graph: IdentityGraph,
        store: ProfileStore,
        records: PrivacyRecords,
        changes: ChangeLog | None,
        purposes: Sequence[str],
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._identity = identity
        self._profiles = profiles
        self._requests = requests
        self._splits = splits
        self._graph = graph
        self._store = store
        self._changes = changes
        self.records = records
        self.purposes = tuple(purposes)
        self._clock = clock

    # -- erasure -----------------------------------------------------------------------------

    def erase(self, subject: ProfileKey, request_id: str, *, caller: str) -> ErasureRecord:
        check_request_id(request_id)
        identity, store = self._identity, self._store
        with span("idstitch.erase"), self._splits.gate.split():
            record = self._pending_or_new(subject, request_id)
            if record.completed_at is not None:
                return record
            pid = record.person_id
            assert pid is not None
            events = store.events_of(pid)
            graph = self._graph.person_graph(pid)
            own_keys = [n.key for n in graph.nodes if not n.shared] if graph else []
            if subject.identifier is not None:  # held or not, it stays suppressed
                ident = identity.key_of(*subject.identifier, field="subject.identifier")
                if not isinstance(ident, str) and ident.key not in own_keys:
                    own_keys.append(ident.key)
            if own_keys:  # suppressed first: a crash after this point leaves nothing resurrectable
                self.records.suppress({identity.suppression_hash(k) for k in own_keys}, record.started_at)
            if events:  # and its events by id, replayed whatever identifiers they carry
                self.records.suppress(
                    {identity.event_suppression_hash(e.facts.event_id) for e in events}, EVER
                )
            counts = {name: 0 for name in GRAPH_COUNTS} | dict(record.counts)  # a first attempt's part
            if own_keys:
                # Before the graph forgets who shares links with them: other persons' events that
                # name these identifiers (a link held back split an event) lose them. A retry after
                # a crash finds the graph as it was and scrubs again.
                ours = {pid, *(graph.aliases if graph else ())}
                others = self._graph.persons_linked_to(own_keys) - ours
                scrubbed = store.scrub_keys(others, own_keys) if others else {}
                if scrubbed:  # what their profiles folded from those events (a device seen) goes too
                    self._splits.refold(sorted(scrubbed))
                counts["other_persons_events_scrubbed"] += sum(scrubbed.values())
            if graph is not None:
                counts["held_back_links"] = len(graph.unapplied)
            erased = self._graph.erase_person(pid, [e.facts.event_id for e in events])
            if erased is not None:
                counts |= {
                    "identifiers": len(erased.keys),
                    "links": erased.links,
                    "aliases": erased.aliases,
                    "shared_identifier_uses": erased.shared_uses,
                    "suppressed_identifiers": len(own_keys),
                }
                self.records.record_progress(record.erasure_id, counts)
            event_count, had_profile = store.erase(pid)
            counts |= {
                "events": event_count,
                "profiles": int(had_profile),
                "consent_records": sum(e.facts.type == CONSENT_EVENT for e in events),
            }
            counts["suppressed_identifiers"] = max(counts["suppressed_identifiers"], len(own_keys))
            done = self.records.complete_erasure(record.erasure_id, counts, self._clock())
            erasures.add(1)
            if self._changes is not None:  # earlier changes go; consumers are told to delete
                self._changes.erased(pid, graph.aliases if graph else ())
        self.records.audit(self._clock(), caller, "erase", {"erasure_id": done.erasure_id, **counts})
        changes = self._changes

        def again() -> None:  # a straggler of another server landed after it: erased, and told
            events, had_profile = store.erase(pid)
            if (events or had_profile) and changes is not None:
                changes.erased(pid, ())

        self._splits.after_settling("erasure", again)
        self._splits.propagated()
        return done

    def _pending_or_new(self, subject: ProfileKey, request_id: str) -> ErasureRecord:
        """The erasure of this request id (finished, or to finish), or a new one for the subject."""
        try:
            pid = self._profiles.person_of(subject, field="subject")
        except NotFound:
            pid = None
        record = self.records.begin_erasure(
            ErasureRecord("er_" + secrets.token_hex(12), request_id, self._clock(), None, pid or "")
        )
        return record

    def erasure(self, erasure_id: str, *, caller: str) -> ErasureRecord:
        record = self.records.erasure(erasure_id)
        if record is None:
            raise NotFound("erasure not known")
        self.records.audit(self._clock(), caller, "get_erasure", {"erasure_id": erasure_id})
        return record

    # -- export ------------------------------------------------------------------------------

    def export(self, subject: ProfileKey, *, caller: str) -> Export:
        pid = self._profiles.person_of(subject, field="subject")
        person = self._identity.reads.person(pid)
        found = self._profiles.get(ProfileKey(person_id=pid))
        events = self._store.events_of(pid)
        self.records.audit(
            self._clock(), caller, "export", {"events": len(events), "identifiers": len(person.nodes)}
        )
        return Export(person, found, consent_of(found.state), events)

    # -- consent -----------------------------------------------------------------------------

    def set_consent(
        self,
        subject: ProfileKey,
        *,
        request_id: str,
        purpose: str,
        granted: bool,
        source: str,
        at: int | None,
        caller: str,
    ) -> tuple[str, bool]:
        """Records a consent decision as an event of the person, so it merges and splits with them.
        Returns the person id and whether the request was new."""
        if purpose not in self.purposes:
            raise InvalidArgument("purpose", f"not a configured purpose (known: {', '.join(self.purposes)})")
        if not source.strip():
            raise InvalidArgument("source", "required")
        when = at if at is not None else self._clock()
        pid, new = self._requests.record(
            subject,
            CONSENT_EVENT,
            request_id,
            lambda eid, through: EventFacts(
                eid,
                when,
                "api",
                CONSENT_EVENT,
                consent={purpose: ConsentValue(granted, source, when, through)},
            ),
            field="subject",
        )
        self.records.audit(
            self._clock(), caller, "set_consent", {"purpose": purpose, "granted": str(granted).lower()}
        )
        return pid, new
