"""Two idstitch server processes on one Neo4j graph and one Cassandra cluster behave as one system
for privacy: a key made or revoked through either holds on both, an erasure through one holds on
the other — even while that other ingests the person's late events — and the audit log read
through either shows both servers' operations."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import admin_service_pb2 as apb
from idstitch.v1 import admin_service_pb2_grpc as apb_grpc
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as priv
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from idstitch.v1 import profile_service_pb2_grpc as ppb_grpc
from server.auth import KEY_CACHE_SECONDS
from tests.servers import (
    CLUSTER_SECRET,
    IdstitchProcess,
    start_cluster,
    two_systems,
)
from tests.test_privacy_api import event

pytestmark = pytest.mark.e2e
SECRET = CLUSTER_SECRET
T0 = 1_700_000_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[IdstitchProcess]]:
    servers = start_cluster(tmp_path, "ClusterPriv")
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()


def _admin_key(servers: list[IdstitchProcess]) -> str:
    # The records are shared: the first server to start made the one admin key.
    keys = [s.key for s in servers if s.key]
    assert len(keys) == 1
    return keys[0]


def test_a_key_made_through_one_server_works_on_the_other_and_its_revocation_holds_on_both(cluster):
    admin = _admin_key(cluster)
    with grpc.insecure_channel(cluster[0].target) as raw0, grpc.insecure_channel(cluster[1].target) as raw1:
        made = apb_grpc.AdminServiceStub(with_key(raw0, admin)).CreateKey(apb.CreateKeyRequest(role="ingest"))
        on_other = pb_grpc.IdentityServiceStub(with_key(raw1, made.key))
        on_first = pb_grpc.IdentityServiceStub(with_key(raw0, made.key))
        assert on_other.Ingest(pb.IngestRequest(events=[event("k1", T0, ("cookie", "c1"))])).results
        assert on_first.Ingest(pb.IngestRequest(events=[event("k2", T0, ("cookie", "c2"))])).results
        revoked = apb_grpc.AdminServiceStub(with_key(raw1, admin)).RevokeKey(
            apb.RevokeKeyRequest(key_id=made.key_id)
        )
        assert revoked.revoked
        deadline = time.monotonic() + KEY_CACHE_SECONDS + 5
        codes = set()
        for stub in (on_other, on_first):
            while True:
                try:
                    stub.Ingest(pb.IngestRequest(events=[event("k3", T0, ("cookie", "c3"))]))
                except grpc.RpcError as e:
                    codes.add(e.code())
                    break
                assert time.monotonic() < deadline, "a revoked key still works after the cache bound"
                time.sleep(0.5)
        assert codes == {grpc.StatusCode.UNAUTHENTICATED}
        audit = apb_grpc.AdminServiceStub(with_key(raw0, admin)).ListAudit(apb.ListAuditRequest())
        operations = [r.operation for r in audit.records]
        assert "create_key" in operations and "revoke_key" in operations  # made on 0, revoked on 1


def test_an_erasure_through_one_server_holds_on_the_other_while_it_ingests_late_events(cluster):
    admin = _admin_key(cluster)
    ann = [("customer_id", "C-ANN"), ("email", "ann@example.com"), ("cookie", "ann-laptop")]
    with grpc.insecure_channel(cluster[0].target) as raw0, grpc.insecure_channel(cluster[1].target) as raw1:
        ingest0 = pb_grpc.IdentityServiceStub(with_key(raw0, admin))
        ingest1 = pb_grpc.IdentityServiceStub(with_key(raw1, admin))
        ingest0.Ingest(pb.IngestRequest(events=[event("a0", T0, *ann, type="login")]))
        stop = threading.Event()
        outcomes: list[int] = []

        def late_events() -> None:
            n = 0
            while not stop.is_set():  # Ann's events from before the erasure, delivered late to server 1
                batch = [
                    event(f"late-{n}-{i}", T0 + 60 + i, ann[i % 3], ("cookie", f"ann-tab-{n}"))
                    for i in range(3)
                ]
                outcomes.extend(r.outcome for r in ingest1.Ingest(pb.IngestRequest(events=batch)).results)
                n += 1

        worker = threading.Thread(target=late_events)
        worker.start()
        try:
            time.sleep(1.0)
            priv_grpc.PrivacyServiceStub(with_key(raw0, admin)).Erase(
                priv.EraseRequest(
                    subject=ppb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value="C-ANN")),
                    request_id="dsr-cluster-1",
                )
            )
            time.sleep(1.5)  # late events keep arriving at the other server after the erasure
        finally:
            stop.set()
            worker.join(60)
        assert pb.OUTCOME_SUPPRESSED in outcomes[-3:]  # the last batch, after the erasure, is dropped
        time.sleep(2)  # the erasure's settle sweep (split_settle_seconds: 1)
        for raw in (raw0, raw1):
            resolve = pb_grpc.IdentityServiceStub(with_key(raw, admin))
            profiles = ppb_grpc.ProfileServiceStub(with_key(raw, admin))
            for t, v in [*ann, ("cookie", "ann-tab-0")]:
                with pytest.raises(grpc.RpcError) as err:
                    resolve.Resolve(pb.ResolveRequest(identifier=ev_pb.Identifier(type=t, value=v)))
                assert err.value.code() == grpc.StatusCode.NOT_FOUND, (t, v)
                with pytest.raises(grpc.RpcError) as err:
                    profiles.GetProfile(
                        ppb.GetProfileRequest(
                            key=ppb.ProfileKey(identifier=ev_pb.Identifier(type=t, value=v))
                        )
                    )
                assert err.value.code() == grpc.StatusCode.NOT_FOUND, (t, v)
        audit = apb_grpc.AdminServiceStub(with_key(raw1, admin)).ListAudit(apb.ListAuditRequest())
        assert "erase" in [r.operation for r in audit.records]  # recorded by server 0, read through 1


def test_an_erasure_committed_between_a_batchs_start_and_its_transaction_suppresses_the_batch(tmp_path):
    """Deterministically, the race the test above runs loose: server B has taken a batch of the
    person's late events and server A's erasure lands before B's graph transaction begins."""
    from common.errors import NotFound
    from profiles.reader import ProfileKey
    from tests.helpers import shop

    a, b = two_systems(tmp_path, "ClusterRace")
    try:
        a.ingest(
            [shop("web", ("customer_id", "C-ANN"), ("cookie", "ann-laptop"), type="login", at=T0 * 10**6)]
        )
        late = [shop("web", ("customer_id", "C-ANN"), ("cookie", "ann-tablet"), type="product_view",
                     at=(T0 + 60) * 10**6)]  # fmt: skip
        real = b.graph.stitch

        def erased_meanwhile(**kw):  # type: ignore[no-untyped-def]
            a.privacy.erase(ProfileKey(identifier=("customer_id", "C-ANN")), "dsr-race", caller="k_test")
            return real(**kw)

        b.graph.stitch = erased_meanwhile  # type: ignore[method-assign]
        [r] = b.ingest(late)
        assert r.outcome == "suppressed"
        for system in (a, b):
            for ident in [("customer_id", "C-ANN"), ("cookie", "ann-laptop"), ("cookie", "ann-tablet")]:
                with pytest.raises(NotFound):
                    system.reads.identity.resolve(*ident)
    finally:
        a.close()
        b.close()


def test_one_watcher_sees_both_servers_changes_in_order_per_person(cluster):
    """The change feed lives in Cassandra with the profiles: a watcher on server 0 receives what
    server 1 recorded, and each person's changes in the order they happened."""
    from idstitch.v1 import change_service_pb2 as cpb
    from idstitch.v1 import change_service_pb2_grpc as cpb_grpc

    admin = _admin_key(cluster)
    start = f"{time.time_ns() // 1000}:~"  # a cursor of the shared feed: everything after now
    with grpc.insecure_channel(cluster[0].target) as raw0, grpc.insecure_channel(cluster[1].target) as raw1:
        ingest = [pb_grpc.IdentityServiceStub(with_key(raw, admin)) for raw in (raw0, raw1)]
        persons = {}
        for n in range(6):  # each shopper: a view through one server, then a login through the other
            cookie = ("cookie", f"ck-{n}")
            ingest[n % 2].Ingest(pb.IngestRequest(events=[event(f"v{n}", T0 + n, cookie)]))
            login = event(f"l{n}", T0 + n + 1, cookie, ("customer_id", f"C-{n}"), type="login")
            [r] = ingest[1 - n % 2].Ingest(pb.IngestRequest(events=[login])).results
            persons[r.person_id] = n
        seen: list[cpb.Change] = []
        watch = cpb_grpc.ChangeServiceStub(with_key(raw0, admin))
        with contextlib.suppress(grpc.RpcError):  # the stream stays open: it ends at its deadline
            for response in watch.Watch(cpb.WatchRequest(cursor=start), timeout=6):
                seen += response.changes
    assert set(persons) <= {c.person_id for c in seen}
    for pid in persons:
        mine = [cpb.ChangeKind.Name(c.kind) for c in seen if c.person_id == pid]
        assert mine[0] == "CHANGE_KIND_PERSON_CREATED"
        assert mine.count("CHANGE_KIND_PROFILE_UPDATED") == 2  # one per server's batch, in order
    cursors = [c.cursor for c in seen]
    assert len(set(cursors)) == len(cursors) and cursors == sorted(
        cursors, key=lambda c: int(c.split(":")[0])
    )
