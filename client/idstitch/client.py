"""A small typed client of the idstitch API for the systems that call it (web, app, POS,
personalization engines). Answers are the API's own messages (typed by the stubs' .pyi files);
what the client adds is what every caller would otherwise write again: the key on every call,
TLS, a deadline on every call, and ingest in batches with retries that are safe because a resent
event id is a no-op on the server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from idstitch.channels import find_key, open_channel, with_key
from idstitch.v1 import change_service_pb2, event_pb2, identity_service_pb2, profile_service_pb2
from idstitch.v1.change_service_pb2_grpc import ChangeServiceStub
from idstitch.v1.identity_service_pb2_grpc import IdentityServiceStub
from idstitch.v1.profile_service_pb2_grpc import ProfileServiceStub

Event = event_pb2.Event
IdentifierPair = tuple[str, str]
"""(type, value), e.g. ("email", "ann@example.com")."""
T = TypeVar("T")

MAX_BATCH = 500
"""Events per Ingest call and keys per batch read: the server's own bound."""
RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE})
_KIND: dict[str, change_service_pb2.ChangeKind] = {
    name.removeprefix("CHANGE_KIND_").lower(): getattr(change_service_pb2, name)
    for name in change_service_pb2.ChangeKind.keys()  # noqa: SIM118 (an enum wrapper, not a dict)
    if name != "CHANGE_KIND_UNSPECIFIED"
}
"""Codes a call is retried on: the server or a store it needs was away for a moment."""


def event(
    event_id: str,
    channel: str,
    type: str,
    identifiers: Sequence[IdentifierPair],
    *,
    occurred_at: datetime | None = None,
    attributes: dict[str, str] | None = None,
) -> event_pb2.Event:
    """An Event to ingest; set `product`, `order`, `context` or `campaign` on the result."""
    ev = event_pb2.Event(
        event_id=event_id,
        channel=channel,
        type=type,
        identifiers=[event_pb2.Identifier(type=t, value=v) for t, v in identifiers],
        attributes=attributes or {},
    )
    if occurred_at is not None:
        ev.occurred_at.FromDatetime(occurred_at)
    return ev


class Client:
    """One channel to one idstitch server (or a load balancer in front of several).

    `key`: the caller key (default: IDSTITCH_API_KEY, else IDSTITCH_KEY_FILE or
    ./idstitch-data/admin.key). `ca`, `cert`, `client_key`: TLS and mutual TLS (default:
    IDSTITCH_TLS_CA, IDSTITCH_TLS_CERT, IDSTITCH_TLS_KEY). `timeout`: the deadline of each call,
    in seconds. `retries`: attempts after the first on UNAVAILABLE, with exponential backoff."""

    def __init__(
        self,
        target: str,
        *,
        key: str | None = None,
        ca: Path | None = None,
        cert: Path | None = None,
        client_key: Path | None = None,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.1,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._channel = with_key(
            open_channel(target, ca=ca, cert=cert, key=client_key), key if key is not None else find_key()
        )
        self._identity = IdentityServiceStub(self._channel)
        self._profiles = ProfileServiceStub(self._channel)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    # -- identity ----------------------------------------------------------------------------

    def resolve(self, type: str, value: str) -> identity_service_pb2.ResolveResponse:
        """The person an identifier names, with its graph (or, for a shared one, its users)."""
        req = identity_service_pb2.ResolveRequest(identifier=event_pb2.Identifier(type=type, value=value))
        return self._call(self._identity.Resolve, req)

    def batch_resolve(
        self, identifiers: Sequence[IdentifierPair]
    ) -> list[identity_service_pb2.BatchResolveResult]:
        """One result per identifier, in order; more than 500 are sent in several calls."""
        out: list[identity_service_pb2.BatchResolveResult] = []
        for part in _chunks(list(identifiers), MAX_BATCH):
            req = identity_service_pb2.BatchResolveRequest(
                identifiers=[event_pb2.Identifier(type=t, value=v) for t, v in part]
            )
            out.extend(self._call(self._identity.BatchResolve, req).results)
        return out

    def ingest(self, events: Iterable[event_pb2.Event]) -> list[identity_service_pb2.EventResult]:
        """Sends the events in batches of 500, in order; one result per event. A batch the
        server could not take (UNAVAILABLE) is sent again, as it was: the events it had already
        applied come back as duplicates, nothing is applied twice."""
        out: list[identity_service_pb2.EventResult] = []
        batch: list[event_pb2.Event] = []
        for ev in events:
            if not ev.event_id:
                raise ValueError("every event needs an event_id: it is what makes a retry safe")
            batch.append(ev)
            if len(batch) == MAX_BATCH:
                out.extend(self._ingest(batch))
                batch = []
        if batch:
            out.extend(self._ingest(batch))
        return out

    def _ingest(self, batch: list[event_pb2.Event]) -> Sequence[identity_service_pb2.EventResult]:
        return self._call(self._identity.Ingest, identity_service_pb2.IngestRequest(events=batch)).results

    # -- profiles ----------------------------------------------------------------------------

    def get_profile(
        self,
        *,
        identifier: IdentifierPair | None = None,
        person_id: str | None = None,
        fields: Sequence[str] = (),
    ) -> profile_service_pb2.Profile:
        """A person's profile, by an identifier or a person id. `fields`: paths into Profile
        (e.g. ["behavior.cart", "segments"]); empty: the whole profile."""
        req = profile_service_pb2.GetProfileRequest(
            key=_key(identifier, person_id), read_mask=FieldMask(paths=list(fields))
        )
        return self._call(self._profiles.GetProfile, req).profile

    def batch_get_profiles(
        self,
        keys: Sequence[IdentifierPair | str],
        *,
        fields: Sequence[str] = (),
    ) -> list[profile_service_pb2.ProfileResult]:
        """One result per key (an identifier pair or a person id), in order."""
        out: list[profile_service_pb2.ProfileResult] = []
        for part in _chunks(list(keys), MAX_BATCH):
            req = profile_service_pb2.BatchGetProfilesRequest(
                keys=[_key(None, k) if isinstance(k, str) else _key(k, None) for k in part],
                read_mask=FieldMask(paths=list(fields)),
            )
            out.extend(self._call(self._profiles.BatchGetProfiles, req).results)
        return out

    # -- the change feed ---------------------------------------------------------------------

    def watch(
        self,
        *,
        cursor: str = "",
        kinds: Sequence[str] = (),
        segments: Sequence[str] = (),
        store_ids: Sequence[str] = (),
        fields: Sequence[str] = (),
        idle_timeout: float | None = None,
    ) -> Iterator[change_service_pb2.Change]:
        """The change feed, one change at a time, from `cursor` (empty: from now). `kinds` by
        name: "order_placed", "segment_entered", ... When the server goes away the stream is
        opened again from the last change received (UNAVAILABLE retried with backoff), so a
        consumer sees no gap; it may see a change twice. `idle_timeout`: end when no change comes
        for this long (None: run until the caller stops iterating)."""
        request = change_service_pb2.WatchRequest(
            cursor=cursor,
            kinds=[_KIND[k] for k in kinds],
            segments=segments,
            store_ids=store_ids,
            profile_mask=FieldMask(paths=list(fields)),
        )
        changes = ChangeServiceStub(self._channel)
        failures = 0
        while True:
            stream = changes.Watch(request)
            idle = _IdleWatchdog(stream, idle_timeout)
            try:
                for response in stream:
                    idle.touch()
                    failures = 0
                    for change in response.changes:
                        request.cursor = change.cursor
                        yield change
                # The feed has no end: a stream that ended all the same is opened again.
                time.sleep(self.backoff * random.uniform(0.5, 1.0))
            except grpc.RpcError as e:
                if idle.fired:
                    return
                code = e.code() if isinstance(e, grpc.Call) else None
                if code not in RETRIED or failures >= self.retries:
                    raise
                time.sleep(self.backoff * 2**failures * random.uniform(0.5, 1.0))
                failures += 1
            finally:
                idle.stop()
                stream.cancel()

    # -- plumbing ----------------------------------------------------------------------------

    def _call(self, method: Callable[..., T], request: object) -> T:
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as e:
                code = e.code() if isinstance(e, grpc.Call) else None
                if code not in RETRIED or attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _IdleWatchdog:
    """Cancels a stream that has received nothing for `timeout` seconds (None: never)."""

    def __init__(self, stream: grpc.Future, timeout: float | None) -> None:
        self.fired = False
        self._last = time.monotonic()
        self._stop = threading.Event()
        if timeout is not None:
            threading.Thread(target=self._run, args=(stream, timeout), daemon=True).start()

    def _run(self, stream: grpc.Future, timeout: float) -> None:
        while not self._stop.wait(min(timeout, 0.1)):
            if time.monotonic() - self._last > timeout:
                self.fired = True
                stream.cancel()
                return

    def touch(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()


def _key(identifier: IdentifierPair | None, person_id: str | None) -> profile_service_pb2.ProfileKey:
    if (identifier is None) == (person_id is None):
        raise ValueError("give one of identifier or person_id")
    if identifier is not None:
        return profile_service_pb2.ProfileKey(
            identifier=event_pb2.Identifier(type=identifier[0], value=identifier[1])
        )
    return profile_service_pb2.ProfileKey(person_id=person_id)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
