"""ChangeService over gRPC: Watch streams the change feed from a cursor, filtered, and waits for
more. A watcher that stops reading blocks only its own stream (gRPC's flow control holds the
writes; ingest never waits on a watcher), and resumes from its cursor when it reconnects."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from changes.log import ChangeLog
from changes.model import (
    INTERNAL_KINDS,
    KINDS,
    PERSON_ERASED,
    SEGMENT_ENTERED,
    SEGMENT_LEFT,
    BadCursor,
    Change,
)
from changes.model import CursorExpired as Expired
from common.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted, StoreUnavailable
from identity.reader import IdentityReader
from idstitch.v1 import change_service_pb2 as pb
from idstitch.v1 import change_service_pb2_grpc as pb_grpc
from profiles.reader import ProfileKey, ProfileReader
from server import profile_convert
from server.convert import timestamp

PAGE = 500
"""Changes read from the feed at a time."""
POLL_SECONDS = 0.1
"""How often an idle stream looks for changes other servers recorded (this server's wake it)."""
SEGMENT_KINDS = frozenset({SEGMENT_ENTERED, SEGMENT_LEFT})
KIND_OF: dict[str, pb.ChangeKind] = {k: getattr(pb, "CHANGE_KIND_" + k.upper()) for k in KINDS}


MAX_LISTED = 100
"""Changes ListChanges returns at most."""


class ChangeServicer(pb_grpc.ChangeServiceServicer):
    def __init__(
        self, changes: ChangeLog, profiles: ProfileReader, identity: IdentityReader, *, max_watchers: int
    ) -> None:
        self._changes = changes
        self._profiles = profiles
        self._identity = identity
        self._slots = threading.BoundedSemaphore(max_watchers)
        self.stopping = threading.Event()

    def Watch(self, request: pb.WatchRequest, context: grpc.ServicerContext) -> Iterator[pb.WatchResponse]:
        want = _Filter(request)
        mask = profile_convert.check_mask(request.profile_mask, "profile_mask")
        feed = self._changes.feed
        cursor = self._start(request.cursor)
        if not self._slots.acquire(blocking=False):
            raise ResourceExhausted("every watch stream of this server is in use; retry later")
        try:
            while context.is_active() and not self.stopping.is_set():
                changes, cursor = feed.read(cursor, PAGE)
                wanted = [self._message(c, mask) for c in changes if want(c)]
                if wanted:
                    yield pb.WatchResponse(changes=wanted)
                if not changes:
                    with self._changes.recorded:
                        self._changes.recorded.wait(POLL_SECONDS)
            if self.stopping.is_set():  # not the end of the feed: the watcher should come back
                raise StoreUnavailable("the server is stopping; resume from the last cursor received")
        finally:
            self._slots.release()

    def ListChanges(
        self, request: pb.ListChangesRequest, context: grpc.ServicerContext
    ) -> pb.ListChangesResponse:
        if not request.person_id.strip():
            raise InvalidArgument("person_id", "required")
        if not 0 <= request.limit <= MAX_LISTED:
            raise InvalidArgument("limit", f"0 to {MAX_LISTED} (0: {MAX_LISTED})")
        person = self._identity.person(request.person_id)  # NOT_FOUND when unknown or erased
        found = self._changes.latest([person.person_id, *person.aliases], request.limit or MAX_LISTED)
        return pb.ListChangesResponse(changes=[self._message(c, None) for c in found])

    def _start(self, cursor: str) -> str:
        """Where the stream starts: now, or the cursor given once the feed has accepted it."""
        try:
            return self._changes.feed.read(cursor or None, 0)[1]
        except Expired as e:
            raise FailedPrecondition(
                "cursor", f"older than the retention window; the oldest cursor to resume from is {e.oldest}"
            ) from None
        except BadCursor:
            raise InvalidArgument("cursor", "not a cursor of this change feed") from None

    def _message(self, c: Change, mask: FieldMask | None) -> pb.Change:
        out = pb.Change(
            cursor=c.cursor,
            at=timestamp(c.at),
            person_id=c.person_id,
            kind=KIND_OF[c.kind],
            store_id=c.store_id,
        )
        d = c.detail
        match c.kind:  # each kind's detail has its own shape (changes.model): the kind picks the oneof
            case "persons_merged":
                out.merged.merged_person_ids.extend(_strings(d.get("merged_person_ids")))
            case "person_split":
                out.split.new_person_ids.extend(_strings(d.get("new_person_ids")))
            case "profile_updated":
                out.profile_updated.sections.extend(_strings(d.get("sections", [])))
                if mask is not None:
                    try:
                        found = self._profiles.get(ProfileKey(person_id=c.person_id))
                        out.profile_updated.values.CopyFrom(profile_convert.profile(found, mask))
                    except NotFound:
                        pass  # merged away or erased since: a later change says so
            case "segment_entered" | "segment_left":
                out.segment.segment = str(d["segment"])
            case "cart_abandoned":
                out.cart.last_cart_activity.CopyFrom(timestamp(int(d["last_cart_activity"])))  # type: ignore[arg-type]
                out.cart.items = int(d["items"])  # type: ignore[arg-type]
            case "order_placed":
                out.order.channel = str(d["channel"])
                out.order.store_id = str(d.get("store_id", ""))
        return out


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


class _Filter:
    """Which changes a watcher asked for. Segment names narrow segment changes only; store ids
    narrow every kind but `person_erased`, which every watcher gets (it may hold a copy). Counts
    and lengths are bounded at the door (server/bounds.py); here only what bounds cannot say."""

    def __init__(self, request: pb.WatchRequest) -> None:
        for name, values in (("segments", request.segments), ("store_ids", request.store_ids)):
            for i, v in enumerate(values):
                if not v:
                    raise InvalidArgument(f"{name}[{i}]", "empty")
        kinds = set()
        for i, k in enumerate(request.kinds):
            if k == pb.CHANGE_KIND_UNSPECIFIED or k not in pb.ChangeKind.values():
                raise InvalidArgument(f"kinds[{i}]", "not a change kind")
            kinds.add(pb.ChangeKind.Name(k).removeprefix("CHANGE_KIND_").lower())
        self.kinds = frozenset(kinds)
        self.segments = frozenset(request.segments)
        self.stores = frozenset(request.store_ids)

    def __call__(self, c: Change) -> bool:
        if c.kind in INTERNAL_KINDS:
            return False
        if self.kinds and c.kind not in self.kinds:
            return False
        if self.segments and c.kind in SEGMENT_KINDS and c.detail.get("segment") not in self.segments:
            return False
        return not self.stores or c.kind == PERSON_ERASED or c.store_id in self.stores
