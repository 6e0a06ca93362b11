"""Profile reads: a person's profile by person id or by identifier, one at a time or in batches,
found the same way either way (`find`). Built over a graph and a profile store; the composition
root builds one over the stores and one that may answer from the read cache (the page-render
reads), and each caller picks."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from common.errors import InvalidArgument, NotFound
from identity.model import SharedResolution
from identity.ports import IdentityGraph
from identity.reader import IdentityReader
from profiles.fold import Folder
from profiles.ports import ProfileStore
from profiles.segments import Rule
from profiles.state import ProfileState
from profiles.view import ProfileReading, consent_of, read

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
    """Why a key names no single person: unknown, shared, or why its value never resolves
    (junk, blocklisted, invalid...)."""

    reason: str


class ProfileReader:
    def __init__(
        self,
        *,
        identity: IdentityReader,
        graph: IdentityGraph,
        store: ProfileStore,
        folder: Folder,
        segments: Mapping[str, Rule],
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._identity = identity
        self._graph = graph
        self.store = store
        self._folder = folder
        self._segments = segments
        self._clock = clock

    def find(self, keys: Sequence[tuple[ProfileKey, str]]) -> list[str | Missing]:
        """The live person each key names, in one graph read for the identifiers and one for the
        person ids. Each key comes with the field that names it in errors."""
        asked = [self._asked(k, field) for k, field in keys]
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
        return persons

    def person_of(self, key: ProfileKey, *, field: str = "key") -> str:
        """The live person a key names. INVALID_ARGUMENT for a value that never resolves or an
        identifier shared by several persons; NOT_FOUND when unknown."""
        [found] = self.find([(key, field)])
        if isinstance(found, str):
            return found
        if key.identifier is None:
            raise NotFound("person not known")
        if found.reason == "unknown":
            raise NotFound("identifier not known")
        if found.reason == "shared":
            raise InvalidArgument(
                f"{field}.identifier", "shared identifier names no single person; ask by person_id"
            )
        raise InvalidArgument(f"{field}.identifier.value", f"{found.reason}: such a value never resolves")

    def get(self, key: ProfileKey, *, field: str = "key") -> FoundProfile:
        pid = self.person_of(key, field=field)
        return self.found(pid, self.store.get(pid))

    def get_many(self, keys: Sequence[ProfileKey], *, field: str = "keys") -> list[FoundProfile | Missing]:
        if len(keys) > MAX_PROFILE_BATCH:
            raise InvalidArgument(field, f"{len(keys)} keys; at most {MAX_PROFILE_BATCH}")
        persons = self.find([(k, f"{field}[{i}]") for i, k in enumerate(keys)])
        states = self.store.get_many({p for p in persons if isinstance(p, str)})
        return [p if isinstance(p, Missing) else self.found(p, states.get(p)) for p in persons]

    def found(self, pid: str, state: ProfileState | None) -> FoundProfile:
        """A person's profile as the API shows it, read at the reader's clock."""
        state = state if state is not None else ProfileState()
        restricted = any(c.purpose == PERSONALIZATION and not c.granted for c in consent_of(state))
        reading = read(state, folder=self._folder, segments=self._segments, now=self._clock())
        return FoundProfile(pid, state, reading, restricted)

    def _asked(self, key: ProfileKey, field: str) -> tuple[str, str] | Missing:
        """What a key asks the graph for: ("key", an identifier's stored key) or ("id", a
        person id); Missing when an identifier's value never resolves."""
        if key.identifier is not None:
            t, v = key.identifier
            ident = self._identity.key_of(t, v, field=f"{field}.identifier")
            return Missing(ident) if isinstance(ident, str) else ("key", ident.key)
        if not key.person_id.strip():
            raise InvalidArgument(f"{field}.person_id", "required")
        return ("id", key.person_id)
