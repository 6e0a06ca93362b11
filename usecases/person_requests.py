"""API requests recorded as a person's events: traits (UpdateTraits) and consent decisions
(usecases/privacy_requests.py). Kept as events, not as fields beside the profile, so that they
merge and split with the person like everything else the person did; idempotent by request id."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from changes.log import ChangeLog
from common.errors import InvalidArgument
from identity.identifiers import node_id
from identity.reader import IdentityReader
from identity.service import MAX_EVENT_ID_BYTES, RESERVED_EVENT_ID_PREFIX
from profiles.events import TRAITS_EVENT, EventFacts, TraitValue
from profiles.fold import Folder
from profiles.ports import LoggedEvent, ProfileStore
from profiles.reader import ProfileKey, ProfileReader
from profiles.rules import ProfileRules
from profiles.traits import check_trait


@dataclass(frozen=True, slots=True)
class TraitInput:
    name: str
    kind: str | None
    """Which TraitValue field was set: text, integer, number, flag (None: none)."""
    value: object
    source: str
    updated_at: int | None


def check_request_id(request_id: str) -> None:
    if not request_id.strip():
        raise InvalidArgument("request_id", "required")
    if len(request_id.encode()) > MAX_EVENT_ID_BYTES:
        raise InvalidArgument("request_id", f"longer than {MAX_EVENT_ID_BYTES} bytes")


class PersonRequests:
    def __init__(
        self,
        *,
        identity: IdentityReader,
        profiles: ProfileReader,
        store: ProfileStore,
        folder: Folder,
        rules: ProfileRules,
        changes: ChangeLog | None,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._identity = identity
        self._profiles = profiles
        self._store = store
        self._folder = folder
        self.rules = rules
        self._changes = changes
        self._clock = clock

    def update_traits(
        self, key: ProfileKey, request_id: str, traits: Sequence[TraitInput]
    ) -> tuple[str, bool]:
        """Records the traits as an event of the person. Returns the person id and whether the
        request was new."""
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
        return self.record(
            key,
            TRAITS_EVENT,
            request_id,
            lambda eid, _: EventFacts(eid, at, "api", TRAITS_EVENT, traits=values),
        )

    def record(
        self,
        key: ProfileKey,
        kind: str,
        request_id: str,
        make: Callable[[str, str], EventFacts],
        *,
        field: str = "key",
    ) -> tuple[str, bool]:
        """Records an API request as an event of the person `key` names. `make(event_id, subject)`
        builds the facts, `subject` being the node id of the identifier it came through ("" for a
        person id). Returns the person id and whether the request was new."""
        check_request_id(request_id)
        pid = self._profiles.person_of(key, field=field)
        keys: tuple[str, ...] = ()
        subject = ""
        if key.identifier is not None:
            ident = self._identity.key_of(*key.identifier, field=f"{field}.identifier")
            if not isinstance(ident, str):
                keys, subject = (ident.key,), node_id(ident.key)
        facts = make(f"{RESERVED_EVENT_ID_PREFIX}{kind}:{request_id}", subject)
        done = self._store.append(events=[LoggedEvent(pid, keys, facts)], merges={}, folding=self._folder)
        if self._changes is not None:  # a retry too: its first attempt may have stored and not told
            self._changes.touched([pid], written=done.written)
        return pid, bool(done.new)
