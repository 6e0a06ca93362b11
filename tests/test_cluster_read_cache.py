"""Two idstitch server processes on one Neo4j graph and one Cassandra cluster, each with its read
cache (readcache/cache.py): what one answers from memory follows the other's writes — new
events, a merge, a consent withdrawal, traits — within the propagation bound, and a detach or
an erasure through one holds on the other from the moment it returns."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as priv
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from idstitch.v1 import profile_service_pb2_grpc as ppb_grpc
from readcache.tail import propagation_seconds
from tests.servers import IdstitchProcess, start_cluster, two_systems
from tests.test_privacy_api import event

pytestmark = pytest.mark.e2e
T0 = 1_700_000_000
BOUND = propagation_seconds(settle_seconds=0.3, max_lag_seconds=1.0)
"""The defaults' bound, from the moment the writing call returns (it has told the feed by then)."""
METRICS = {
    "OTEL_METRICS_EXPORTER": "console",
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",
    "OTEL_TRACES_EXPORTER": "none",
}
"""Server 1 reports its metrics once, when it stops (a pipe nobody reads until then stays small)."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[IdstitchProcess]]:
    servers = start_cluster(tmp_path, "ClusterCache", env={1: METRICS})
    try:
        yield servers
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.stop()


def _ident(t: str, v: str) -> ev_pb.Identifier:
    return ev_pb.Identifier(type=t, value=v)


def _within(read: Callable[[], object], want: object, bound: float) -> float:
    """Seconds until `read()` gives `want`; fails past `bound`."""
    start = time.monotonic()
    while True:
        got = read()
        if got == want:
            return time.monotonic() - start
        assert time.monotonic() - start < bound, f"still {got!r}, not {want!r}, {bound:.1f} s after the write"
        time.sleep(0.05)


def _hits(output: str) -> int:
    """The read cache's hits, from the console metrics exporter's reports in a server's output."""
    decoder, hits, at = json.JSONDecoder(), 0, 0
    while (at := output.find('{\n    "resource_metrics"', at)) >= 0:
        report, at = decoder.raw_decode(output, at)
        for rm in report["resource_metrics"]:
            for sm in rm["scope_metrics"]:
                for m in sm["metrics"]:
                    if m["name"] == "idstitch.read_cache.lookups":
                        for dp in m["data"]["data_points"]:
                            if dp["attributes"].get("outcome") == "hit":
                                hits = max(hits, dp["value"])
    return hits


def test_one_servers_memory_follows_the_others_writes_and_holds_its_detaches_and_erasures(cluster):
    key = next(s.key for s in cluster if s.key)
    with grpc.insecure_channel(cluster[0].target) as raw0, grpc.insecure_channel(cluster[1].target) as raw1:
        writer = pb_grpc.IdentityServiceStub(with_key(raw0, key))
        admin = priv_grpc.PrivacyServiceStub(with_key(raw0, key))
        resolve = pb_grpc.IdentityServiceStub(with_key(raw1, key)).Resolve
        get_profile = ppb_grpc.ProfileServiceStub(with_key(raw1, key)).GetProfile

        def person(t: str, v: str) -> str:
            try:
                return resolve(pb.ResolveRequest(identifier=_ident(t, v))).person.person_id
            except grpc.RpcError as e:
                return e.code().name

        def profile(t: str, v: str) -> ppb.Profile | str:
            try:
                return get_profile(ppb.GetProfileRequest(key=ppb.ProfileKey(identifier=_ident(t, v)))).profile
            except grpc.RpcError as e:
                return e.code().name

        def events(t: str, v: str) -> object:
            got = profile(t, v)
            return got if isinstance(got, str) else got.context.events

        ann = [("customer_id", "C-ANN"), ("cookie", "ann-laptop")]
        bob = [("customer_id", "C-BOB"), ("cookie", "bob-laptop")]
        writer.Ingest(
            pb.IngestRequest(
                events=[event("a1", T0, *ann, type="login"), event("b1", T0, *bob, type="login")]
            )
        )
        writer.Ingest(pb.IngestRequest(events=[event("p1", T0 + 1, ("cookie", "ann-phone"))]))
        ann_id, phone_id = person(*ann[0]), person("cookie", "ann-phone")
        for _ in range(20):  # server 1 reads each of them again and again: from memory after the first
            for ident in [*ann, *bob, ("cookie", "ann-phone")]:
                assert events(*ident) == 1

        # New events, through server 0: server 1 answers them within the bound.
        writer.Ingest(pb.IngestRequest(events=[event("a2", T0 + 2, ann[1])]))
        _within(lambda: events(*ann[0]), 2, BOUND)
        # A merge: the phone's person becomes Ann's.
        writer.Ingest(
            pb.IngestRequest(events=[event("a3", T0 + 3, ann[0], ("cookie", "ann-phone"), type="login")])
        )
        _within(lambda: person("cookie", "ann-phone"), ann_id, BOUND)
        _within(lambda: events("cookie", "ann-phone"), 4, BOUND)
        assert phone_id != ann_id
        # A consent withdrawal: the profile is restricted on server 1 too.
        admin.SetConsent(priv.SetConsentRequest(
            subject=ppb.ProfileKey(identifier=_ident(*ann[0])), request_id="c1", purpose="personalization",
            decision=priv.CONSENT_DECISION_DENIED, source="banner",
        ))  # fmt: skip
        _within(lambda: getattr(profile(*ann[0]), "restricted", None), True, BOUND)

        # A detach and an erasure hold on server 1 the moment they return through server 0.
        assert person("cookie", "ann-phone") == ann_id
        detached = pb_grpc.IdentityServiceStub(with_key(raw0, key)).DetachIdentifier(
            pb.DetachIdentifierRequest(
                identifier=_ident("cookie", "ann-phone"), mode=pb.DETACH_MODE_NEW_PERSON
            )
        )
        assert person("cookie", "ann-phone") == detached.new_person_id
        assert events(*bob[0]) == 1 and person(*bob[1]) == person(*bob[0])
        admin.Erase(priv.EraseRequest(subject=ppb.ProfileKey(identifier=_ident(*bob[0])), request_id="e1"))
        for ident in bob:
            assert person(*ident) == "NOT_FOUND" and profile(*ident) == "NOT_FOUND"
    hits = _hits(cluster[1].stop())
    assert hits > 100, f"server 1 answered {hits} reads from memory: the cache was not under test"


def test_an_erasure_suppresses_the_identifiers_the_person_has_not_those_a_server_remembers(tmp_path):
    """Server A remembers Ann with her laptop; server B has just added her tablet, which A's cache
    has not heard of yet. An erasure through A still suppresses the tablet: it reads the stores,
    never memory (only the page-render reads do)."""
    import time as clock

    from profiles.reader import ProfileKey
    from tests.helpers import shop

    a, b = two_systems(tmp_path, "ClusterCacheErase")
    try:
        assert a.cache is not None and a.cache_tail is not None  # not started: A hears nothing
        a.ingest(
            [shop("web", ("customer_id", "C-ANN"), ("cookie", "ann-laptop"), type="login", at=T0 * 10**6)]
        )
        a.cache.heard(clock.monotonic())  # as if its tail had just read the feed

        def remembered() -> set[str]:
            found = a.render.identity.resolve("customer_id", "C-ANN").person
            assert found is not None
            return {n.display for n in found.nodes}

        assert remembered() == {"C-ANN", "ann-laptop"}
        b.ingest([shop("app", ("customer_id", "C-ANN"), ("cookie", "ann-tablet"), type="login",
                       at=(T0 + 10) * 10**6)])  # fmt: skip
        a.cache.heard(clock.monotonic())
        assert remembered() == {"C-ANN", "ann-laptop"}  # A's memory is behind: the case under test
        a.privacy.erase(ProfileKey(identifier=("customer_id", "C-ANN")), "dsr-1", caller="k_test")
        late = shop("app", ("cookie", "ann-tablet"), type="product_view", at=(T0 + 20) * 10**6)
        [r] = b.ingest([late])
        assert r.outcome == "suppressed"
    finally:
        a.close()
        b.close()
