"""A small typed client of the idstitch API for the systems that call it (web, app, POS,
personalization engines). Answers are the API's own messages (typed by the stubs' .pyi files);
what the client adds is what every caller would otherwise write again: the key on every call,
TLS, a deadline on every call, ingest in batches with retries that are safe because a resent
event id is a no-op on the server, retries of every call that is safe to repeat (reads, and
writes idempotent by request id), and errors as typed exceptions (idstitch.errors: still
grpc.RpcError, with code() and details())."""

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
from idstitch.errors import ApiError, typed
from idstitch.v1 import (
    admin_service_pb2,
    change_service_pb2,
    event_pb2,
    identity_service_pb2,
    privacy_service_pb2,
    profile_service_pb2,
)
from idstitch.v1.admin_service_pb2_grpc import AdminServiceStub
from idstitch.v1.change_service_pb2_grpc import ChangeServiceStub
from idstitch.v1.identity_service_pb2_grpc import IdentityServiceStub
from idstitch.v1.privacy_service_pb2_grpc import PrivacyServiceStub
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
        self._privacy = PrivacyServiceStub(self._channel)
        self._admin = AdminServiceStub(self._channel)
        self._changes = ChangeServiceStub(self._channel)
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

    def graph(
        self, *, identifier: IdentifierPair | None = None, person_id: str | None = None
    ) -> identity_service_pb2.GetIdentityGraphResponse:
        """A person's identity graph: nodes, links with their rule and evidence class, aliases,
        and the weak links to other persons that are held back."""
        _one_of(identifier, person_id)
        req = identity_service_pb2.GetIdentityGraphRequest(
            person_id=person_id or "", identifier=_identifier(identifier) if identifier else None
        )
        return self._call(self._identity.GetIdentityGraph, req)

    def explain(self, a: IdentifierPair, b: IdentifierPair) -> identity_service_pb2.ExplainLinkResponse:
        """Why two identifiers are one person (the path of links), or why not (what holds them apart)."""
        req = identity_service_pb2.ExplainLinkRequest(a=_identifier(a), b=_identifier(b))
        return self._call(self._identity.ExplainLink, req)

    def detach(
        self, identifier: IdentifierPair, *, shared: bool = False
    ) -> identity_service_pb2.DetachIdentifierResponse:
        """Takes an identifier from its person, to a person of its own (or marks it shared). Not
        retried: a detach that went through leaves nothing to detach, and its retry would fail."""
        mode = (
            identity_service_pb2.DETACH_MODE_SHARED if shared else identity_service_pb2.DETACH_MODE_NEW_PERSON
        )
        req = identity_service_pb2.DetachIdentifierRequest(identifier=_identifier(identifier), mode=mode)
        return self._call(self._identity.DetachIdentifier, req, retry=False)

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

    def update_traits(
        self,
        request_id: str,
        traits: dict[str, str | int | float | bool],
        *,
        identifier: IdentifierPair | None = None,
        person_id: str | None = None,
        source: str,
    ) -> profile_service_pb2.UpdateTraitsResponse:
        """Sets configured traits; idempotent by `request_id`, so retried like a read."""
        updates = [
            profile_service_pb2.TraitUpdate(name=n, value=_trait(v), source=source) for n, v in traits.items()
        ]
        req = profile_service_pb2.UpdateTraitsRequest(
            key=_key(identifier, person_id), request_id=request_id, traits=updates
        )
        return self._call(self._profiles.UpdateTraits, req)

    # -- privacy -----------------------------------------------------------------------------

    def erase(
        self, request_id: str, *, identifier: IdentifierPair | None = None, person_id: str | None = None
    ) -> privacy_service_pb2.ErasureReceipt:
        """Erases a person from every store; the receipt. Idempotent by `request_id`: a retry
        returns the first receipt (and finishes an erasure a failure interrupted)."""
        req = privacy_service_pb2.EraseRequest(subject=_key(identifier, person_id), request_id=request_id)
        return self._call(self._privacy.Erase, req).receipt

    def erasure(self, erasure_id: str) -> privacy_service_pb2.ErasureReceipt:
        req = privacy_service_pb2.GetErasureRequest(erasure_id=erasure_id)
        return self._call(self._privacy.GetErasure, req).receipt

    def export(self, *, identifier: IdentifierPair | None = None, person_id: str | None = None) -> bytes:
        """Everything held about a person: one JSON document (its streamed chunks joined)."""
        req = privacy_service_pb2.ExportRequest(subject=_key(identifier, person_id))

        def whole(request: privacy_service_pb2.ExportRequest, timeout: float) -> bytes:
            return b"".join(chunk.data for chunk in self._privacy.Export(request, timeout=timeout))

        return self._call(whole, req)

    def set_consent(
        self,
        request_id: str,
        purpose: str,
        granted: bool,
        *,
        identifier: IdentifierPair | None = None,
        person_id: str | None = None,
        source: str,
    ) -> privacy_service_pb2.SetConsentResponse:
        """Records a consent decision; idempotent by `request_id`."""
        decision = (
            privacy_service_pb2.CONSENT_DECISION_GRANTED
            if granted
            else privacy_service_pb2.CONSENT_DECISION_DENIED
        )
        req = privacy_service_pb2.SetConsentRequest(
            subject=_key(identifier, person_id), request_id=request_id, purpose=purpose, decision=decision,
            source=source,
        )  # fmt: skip
        return self._call(self._privacy.SetConsent, req)

    # -- admin -------------------------------------------------------------------------------

    def whoami(self) -> admin_service_pb2.WhoAmIResponse:
        """This client's key: its id, its role and every method it may call."""
        return self._call(self._admin.WhoAmI, admin_service_pb2.WhoAmIRequest())

    def create_key(self, role: str) -> admin_service_pb2.CreateKeyResponse:
        """A new caller key (its secret is in the answer, once). Not retried: a retry makes a second."""
        return self._call(self._admin.CreateKey, admin_service_pb2.CreateKeyRequest(role=role), retry=False)

    def list_keys(self) -> list[admin_service_pb2.ApiKeyInfo]:
        return list(self._call(self._admin.ListKeys, admin_service_pb2.ListKeysRequest()).keys)

    def revoke_key(self, key_id: str) -> bool:
        """Whether this call revoked it (False: unknown, or revoked before). Safe to retry."""
        return self._call(self._admin.RevokeKey, admin_service_pb2.RevokeKeyRequest(key_id=key_id)).revoked

    def audit(self, *, after_seq: int = 0, limit: int = 1000) -> list[admin_service_pb2.AuditRecord]:
        req = admin_service_pb2.ListAuditRequest(after_seq=after_seq, limit=limit)
        return list(self._call(self._admin.ListAudit, req).records)

    # -- the change feed ---------------------------------------------------------------------

    def changes_of(self, person_id: str, *, limit: int = 100) -> list[change_service_pb2.Change]:
        """The latest changes about a person (and the ids merged into it), newest first."""
        req = change_service_pb2.ListChangesRequest(person_id=person_id, limit=limit)
        return list(self._call(self._changes.ListChanges, req).changes)

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

    def _call(self, method: Callable[..., T], request: object, *, retry: bool = True) -> T:
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return method(request, timeout=self.timeout)
            except ApiError:
                raise
            except grpc.RpcError as e:
                code = e.code() if isinstance(e, grpc.Call) else None
                if code not in RETRIED or attempt == attempts - 1:
                    raise typed(e) from None
                time.sleep(self.backoff * 2**attempt * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    @property
    def channel(self) -> grpc.Channel:
        """The channel (with the key), for a caller that drives a stub of its own."""
        return self._channel

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


def _identifier(pair: IdentifierPair) -> event_pb2.Identifier:
    return event_pb2.Identifier(type=pair[0], value=pair[1])


def _one_of(identifier: IdentifierPair | None, person_id: str | None) -> None:
    if (identifier is None) == (person_id is None):
        raise ValueError("give one of identifier or person_id")


def _trait(value: str | int | float | bool) -> profile_service_pb2.TraitValue:
    if isinstance(value, bool):
        return profile_service_pb2.TraitValue(flag=value)
    if isinstance(value, int):
        return profile_service_pb2.TraitValue(integer=value)
    if isinstance(value, float):
        return profile_service_pb2.TraitValue(number=value)
    return profile_service_pb2.TraitValue(text=value)


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
