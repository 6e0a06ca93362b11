"""The change feed over real gRPC: what Ingest, DetachIdentifier, Erase and SetConsent tell, what
the sweeper tells with time alone, resuming from a cursor across a restart, filters, consent, a
watcher that never reads, bad and expired cursors, and who may watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.channels import with_key
from idstitch.v1 import admin_service_pb2 as apb
from idstitch.v1 import admin_service_pb2_grpc as apb_grpc
from idstitch.v1 import change_service_pb2 as cpb
from idstitch.v1 import change_service_pb2_grpc as cpb_grpc
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as priv
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from server.app import RunningServer, create_server
from server.config import load_settings

pytestmark = pytest.mark.e2e
K = cpb.ChangeKind
RULES = {
    "segments": {
        "grillers": "affinity.category.grills > 0.5",
        "active_now": "context.days_since_last_seen < 0.00003",
    },
    "abandoned_cart_minutes": 0.02,
}


class Shop:
    def __init__(self, data: Path, **overrides: object) -> None:
        self.data = data
        self.overrides = {"profile_rules": RULES, "changes": {"sweep_seconds": 0.3}, **overrides}
        self.server: RunningServer | None = None
        self.start()

    def start(self) -> None:
        self.server = create_server(load_settings(data_dir=self.data, port=0, **self.overrides))
        self.raw = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.channel = with_key(self.raw, (self.data / "admin.key").read_text().strip())
        self.identity = pb_grpc.IdentityServiceStub(self.channel)
        self.changes = cpb_grpc.ChangeServiceStub(self.channel)

    def stop(self) -> None:
        assert self.server is not None
        self.raw.close()
        self.server.stop(0)

    def ingest(self, *events: ev_pb.Event) -> list[pb.EventResult]:
        return list(self.identity.Ingest(pb.IngestRequest(events=events)).results)

    def watch(self, n: int, cursor: str = "0", timeout: float = 10.0, **filters: object) -> list[cpb.Change]:
        """The first `n` changes after `cursor` that pass the filters (fewer if `timeout` ends first)."""
        stream = self.changes.Watch(cpb.WatchRequest(cursor=cursor, **filters), timeout=timeout)  # type: ignore[arg-type]
        out: list[cpb.Change] = []
        try:
            for response in stream:
                out += response.changes
                if len(out) >= n:
                    out = out[:n]
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                raise
        stream.cancel()
        return out


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(tmp_path)
    yield s
    s.stop()


def event(eid: str, etype: str, *idents: tuple[str, str], channel: str = "web", at: float | None = None,
          **fields: object) -> ev_pb.Event:  # fmt: skip
    ts = Timestamp()
    ts.FromMicroseconds(int((at if at is not None else time.time()) * 1e6))
    identifiers = [ev_pb.Identifier(type=t, value=v) for t, v in idents]
    return ev_pb.Event(
        event_id=eid, occurred_at=ts, channel=channel, type=etype, identifiers=identifiers, **fields
    )


def grill_view(eid: str, *idents: tuple[str, str]) -> ev_pb.Event:
    return event(eid, "product_view", *idents, product=ev_pb.Product(sku="G-1", category="grills"))


def kinds(changes: list[cpb.Change]) -> list[str]:
    return [K.Name(c.kind).removeprefix("CHANGE_KIND_").lower() for c in changes]


def test_ingest_tells_a_new_person_its_profile_segments_and_an_in_store_order(shop: Shop) -> None:
    [r] = shop.ingest(grill_view("e1", ("customer_id", "C-1"), ("cookie", "k1")))
    order = ev_pb.Order(order_id="o-1", total=ev_pb.Money(amount_minor=5000, currency="EUR"))
    shop.ingest(event("e2", "purchase", ("customer_id", "C-1"), channel="pos", order=order,
                      context=ev_pb.Context(store_id="S-7")))  # fmt: skip
    got = shop.watch(7)
    assert {c.person_id for c in got} == {r.person_id}
    assert kinds(got)[:4] == ["person_created", "profile_updated", "segment_entered", "segment_entered"]
    assert set(got[1].profile_updated.sections) == {"context", "behavior", "affinities"}
    assert {c.segment.segment for c in got[2:4]} == {"grillers", "active_now"}
    placed = [c for c in got if c.kind == K.CHANGE_KIND_ORDER_PLACED]
    assert [(c.order.channel, c.order.store_id, c.store_id) for c in placed] == [("in_store", "S-7", "S-7")]
    assert (
        "history"
        in next(c for c in got[4:] if c.kind == K.CHANGE_KIND_PROFILE_UPDATED).profile_updated.sections
    )
    again = shop.ingest(grill_view("e1", ("customer_id", "C-1"), ("cookie", "k1")))  # a resent event
    assert again[0].outcome == pb.OUTCOME_DUPLICATE
    cursors = [int(c.cursor) for c in got]
    assert cursors == sorted(cursors)
    assert shop.watch(1, got[-1].cursor, timeout=1.5, kinds=[K.CHANGE_KIND_PROFILE_UPDATED]) == []


def test_merges_detaches_and_erasure(shop: Shop) -> None:
    a = shop.ingest(event("e1", "page_view", ("cookie", "k1")))[0].person_id
    b = shop.ingest(event("e2", "login", ("customer_id", "C-1"), ("cookie", "k2")))[0].person_id
    [m] = shop.ingest(event("e3", "login", ("customer_id", "C-1"), ("cookie", "k1")))
    assert m.outcome == pb.OUTCOME_MERGED
    admin = pb_grpc.IdentityServiceStub(shop.channel)
    detached = admin.DetachIdentifier(pb.DetachIdentifierRequest(
        identifier=ev_pb.Identifier(type="cookie", value="k2"), mode=pb.DETACH_MODE_NEW_PERSON))  # fmt: skip
    got = shop.watch(50, timeout=2.0)
    merged = [c for c in got if c.kind == K.CHANGE_KIND_PERSONS_MERGED]
    assert [(c.person_id, list(c.merged.merged_person_ids)) for c in merged] == [
        (m.person_id, [b if m.person_id == a else a])
    ]
    [split] = [c for c in got if c.kind == K.CHANGE_KIND_PERSON_SPLIT]
    assert split.person_id == detached.person_id and list(split.split.new_person_ids) == [
        detached.new_person_id
    ]
    assert got[-1].kind != K.CHANGE_KIND_PERSON_CREATED or got[-1].person_id == detached.new_person_id
    assert detached.new_person_id in {c.person_id for c in got if c.kind == K.CHANGE_KIND_PERSON_CREATED}

    privacy = priv_grpc.PrivacyServiceStub(shop.channel)
    privacy.Erase(priv.EraseRequest(request_id="dsr-1", subject=ppb.ProfileKey(person_id=m.person_id)))
    after = shop.watch(100, timeout=2.0)
    erased = {a, b}
    assert [c.kind for c in after if c.person_id in erased] == [K.CHANGE_KIND_PERSON_ERASED]
    assert after[-1].kind == K.CHANGE_KIND_PERSON_ERASED and after[-1].person_id == m.person_id
    assert all(m.person_id not in c.merged.merged_person_ids for c in after)


def test_a_watcher_resumes_from_its_cursor_after_a_restart_with_no_gap(tmp_path: Path) -> None:
    shop = Shop(tmp_path, profile_rules={})  # no segment that time alone changes
    try:
        for i in range(3):
            shop.ingest(event(f"e{i}", "page_view", ("customer_id", f"C-{i}")))
        first = shop.watch(3)
        everything = shop.watch(100, timeout=1.5)
        shop.stop()
        shop.start()  # the same data directory
        [late] = shop.ingest(event("e9", "page_view", ("customer_id", "C-9")))
        rest = shop.watch(100, first[-1].cursor, timeout=2.0)
        before, after = rest[: len(everything) - 3], rest[len(everything) - 3 :]
        assert [c.cursor for c in before] == [c.cursor for c in everything[3:]]  # no gap, nothing twice
        assert kinds(after) == ["person_created", "profile_updated"]
        assert {c.person_id for c in after} == {late.person_id}
    finally:
        shop.stop()


def test_two_watchers_with_different_filters(shop: Shop) -> None:
    found: dict[str, list[cpb.Change]] = {}

    def watch(name: str, **filters: object) -> None:
        found[name] = shop.watch(2, cursor="", timeout=6.0, **filters)

    threads = [
        threading.Thread(target=watch, args=("orders",), kwargs={"kinds": [K.CHANGE_KIND_ORDER_PLACED]}),
        threading.Thread(
            target=watch,
            args=("grillers",),
            kwargs={"segments": ["grillers"], "kinds": [K.CHANGE_KIND_SEGMENT_ENTERED]},
        ),
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # both streams open: they watch from now
    shop.ingest(grill_view("e1", ("customer_id", "C-1")), grill_view("e2", ("customer_id", "C-2")))
    shop.ingest(
        *(event(f"e{n}", "purchase", ("customer_id", c), order=ev_pb.Order(order_id=f"o-{n}"))
          for n, c in ((3, "C-1"), (4, "C-2")))
    )  # fmt: skip
    for t in threads:
        t.join()
    assert kinds(found["orders"]) == ["order_placed"] * 2
    assert [c.order.channel for c in found["orders"]] == ["online", "online"]
    assert kinds(found["grillers"]) == ["segment_entered"] * 2
    assert {c.segment.segment for c in found["grillers"]} == {"grillers"}


def test_the_sweeper_tells_an_abandoned_cart_and_a_segment_left_with_time(shop: Shop) -> None:
    add = event(
        "e1", "add_to_cart", ("customer_id", "C-1"), product=ev_pb.Product(sku="G-1", category="grills")
    )
    [r] = shop.ingest(add)
    got = shop.watch(2, timeout=15.0, kinds=[K.CHANGE_KIND_CART_ABANDONED, K.CHANGE_KIND_SEGMENT_LEFT])
    assert sorted(kinds(got)) == ["cart_abandoned", "segment_left"]
    assert {c.person_id for c in got} == {r.person_id}
    cart = next(c for c in got if c.kind == K.CHANGE_KIND_CART_ABANDONED).cart
    assert cart.items == 1 and cart.last_cart_activity.seconds > 0
    assert next(c for c in got if c.kind == K.CHANGE_KIND_SEGMENT_LEFT).segment.segment == "active_now"


def test_the_sweeper_tells_a_segment_that_time_alone_makes_true(tmp_path: Path) -> None:
    """A person in no segment and with no cart, whom only time moves into one (a lapsed shopper
    for a win-back email): told at the moment the rule turns, not at their next event."""
    lapsing = {"segments": {"lapsing": "context.days_since_last_seen > 0.00004"}}  # 3.5 s
    shop = Shop(tmp_path, profile_rules=lapsing)
    try:
        seen = time.time()
        [r] = shop.ingest(event("e1", "page_view", ("customer_id", "C-1"), at=seen))
        [got] = shop.watch(1, timeout=15.0, kinds=[K.CHANGE_KIND_SEGMENT_ENTERED])
        assert got.person_id == r.person_id and got.segment.segment == "lapsing"
        told = got.at.ToMicroseconds() / 1e6
        assert seen + 3.45 <= told <= seen + 3.46 + 3.0  # the moment, and within a sweep or so of it
    finally:
        shop.stop()


def test_consent_denials_hold_back_what_they_cover(shop: Shop) -> None:
    privacy = priv_grpc.PrivacyServiceStub(shop.channel)
    ann = shop.ingest(event("e1", "page_view", ("customer_id", "ANN")))[0].person_id
    bob = shop.ingest(event("e2", "page_view", ("customer_id", "BOB")))[0].person_id
    for who, purpose in (("ANN", "personalization"), ("BOB", "marketing_email")):
        privacy.SetConsent(priv.SetConsentRequest(
            subject=ppb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value=who)),
            request_id=f"c-{who}", purpose=purpose, decision=priv.CONSENT_DECISION_DENIED,
            source="preference_centre"))  # fmt: skip
    start = shop.watch(100, timeout=1.5)[-1].cursor
    for who, eid in (("ANN", "e3"), ("BOB", "e4")):
        shop.ingest(event(eid, "add_to_cart", ("customer_id", who), product=ev_pb.Product(sku="G-1")))
    got = shop.watch(100, start, timeout=4.0)  # long enough for the carts to be abandoned
    assert [c for c in got if c.person_id == ann] == []  # personalization denied: identity only
    bob_kinds = set(kinds([c for c in got if c.person_id == bob]))
    assert "profile_updated" in bob_kinds and "cart_abandoned" not in bob_kinds


def test_a_watcher_that_never_reads_does_not_hold_ingest_back(shop: Shop) -> None:
    stalled = shop.changes.Watch(cpb.WatchRequest(cursor="0"), timeout=120)  # opened, never read
    for n in range(20):
        batch = [grill_view(f"e{n}-{i}", ("customer_id", f"C-{n}-{i}")) for i in range(100)]
        assert len(shop.ingest(*batch)) == 100  # each batch answers: nothing waits for the watcher
    created = shop.watch(2000, timeout=30.0, kinds=[K.CHANGE_KIND_PERSON_CREATED])
    assert len(created) == 2000  # and every change was recorded for whoever reads
    stalled.cancel()


def test_bad_and_expired_cursors_and_bad_filters_are_refused_by_field(shop: Shop) -> None:
    for request, field in (
        (cpb.WatchRequest(cursor="not-a-cursor"), "cursor"),
        (cpb.WatchRequest(kinds=[99]), "kinds[0]"),
        (cpb.WatchRequest(segments=[""]), "segments[0]"),
        (cpb.WatchRequest(segments=["s"] * 33), "segments"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            next(iter(shop.changes.Watch(request, timeout=5)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert err.value.details().startswith(field)  # type: ignore[attr-defined]
    shop.ingest(*(event(f"e{i}", "page_view", ("customer_id", f"C-{i}")) for i in range(3)))
    assert shop.server is not None and shop.server.system.changes is not None
    shop.server.system.changes.feed.trim(time.time_ns() // 1000 + 1)  # past the retention window
    with pytest.raises(grpc.RpcError) as err:
        next(iter(shop.changes.Watch(cpb.WatchRequest(cursor="1"), timeout=5)))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert "oldest cursor" in err.value.details()  # type: ignore[attr-defined]


def test_only_subscriber_and_admin_keys_may_watch(shop: Shop) -> None:
    admin = apb_grpc.AdminServiceStub(shop.channel)
    keys = {role: admin.CreateKey(apb.CreateKeyRequest(role=role)).key for role in ("subscriber", "ingest")}
    shop.ingest(event("e1", "page_view", ("customer_id", "C-1")))
    with grpc.insecure_channel(f"127.0.0.1:{shop.server.port}") as raw:  # type: ignore[union-attr]
        sub = cpb_grpc.ChangeServiceStub(with_key(raw, keys["subscriber"]))
        first = next(iter(sub.Watch(cpb.WatchRequest(cursor="0"), timeout=5.0))).changes[0]
        assert first.kind == K.CHANGE_KIND_PERSON_CREATED
        with pytest.raises(grpc.RpcError) as err:
            pb_grpc.IdentityServiceStub(with_key(raw, keys["subscriber"])).Resolve(
                pb.ResolveRequest(identifier=ev_pb.Identifier(type="customer_id", value="C-1")))  # fmt: skip
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as err:
            next(
                iter(
                    cpb_grpc.ChangeServiceStub(with_key(raw, keys["ingest"])).Watch(
                        cpb.WatchRequest(), timeout=5
                    )
                )
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def test_a_persons_latest_changes_are_listed_newest_first_aliases_included(shop: Shop) -> None:
    a = shop.ingest(event("e1", "page_view", ("cookie", "k1")))[0].person_id
    shop.ingest(event("e2", "login", ("customer_id", "C-1"), ("cookie", "k2")))
    [m] = shop.ingest(event("e3", "login", ("customer_id", "C-1"), ("cookie", "k1")))
    listed = shop.changes.ListChanges(cpb.ListChangesRequest(person_id=a)).changes  # an alias, maybe
    assert listed[0].person_id == m.person_id and "persons_merged" in kinds(list(listed)[:3])
    assert "person_created" in kinds(list(listed)) and [c.at.ToMicroseconds() for c in listed] == sorted(
        (c.at.ToMicroseconds() for c in listed), reverse=True
    )
    assert len(shop.changes.ListChanges(cpb.ListChangesRequest(person_id=m.person_id, limit=1)).changes) == 1
    for request, field in (
        (cpb.ListChangesRequest(person_id=""), "person_id"),
        (cpb.ListChangesRequest(person_id=a, limit=101), "limit"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            shop.changes.ListChanges(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.value.details()  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as err:
        shop.changes.ListChanges(cpb.ListChangesRequest(person_id="p_unknown"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
