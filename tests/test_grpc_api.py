"""End to end over real gRPC: a server on a free port, called through the generated stubs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.e2e


@pytest.fixture
def stub(channel: grpc.Channel) -> pb_grpc.IdentityServiceStub:
    return pb_grpc.IdentityServiceStub(channel)


def event(
    event_id: str, *ids: tuple[str, str], channel: str = "web", seconds: int = 1_700_000_000, **kw
) -> ev_pb.Event:
    return ev_pb.Event(
        event_id=event_id,
        occurred_at=Timestamp(seconds=seconds),
        channel=channel,
        type=kw.pop("type", "page_view"),
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        **kw,
    )


def ident(t: str, v: str) -> ev_pb.Identifier:
    return ev_pb.Identifier(type=t, value=v)


def test_ingest_reports_outcomes_refusals_and_ignored_identifiers(stub):
    resp = stub.Ingest(
        pb.IngestRequest(
            events=[
                event("e1", ("customer_id", "ANN"), ("cookie", "tablet"), ("cookie", "undefined")),
                event("e2", ("customer_id", "BOB"), ("cookie", "tablet")),
                event("e3", ("customer_id", "ANN"), ("email", "ann@example.com")),
                event("e1", ("customer_id", "ANN"), ("cookie", "tablet")),
            ]
        )
    )
    r1, r2, r3, r4 = resp.results
    assert r1.outcome == pb.OUTCOME_CREATED and r1.person_id.startswith("p_")
    assert [(i.index, i.type, i.reason) for i in r1.ignored_identifiers] == [(2, "cookie", "junk_value")]
    assert r2.outcome == pb.OUTCOME_CREATED
    assert [(x.from_index, x.to_index, x.rule, x.action) for x in r2.refused_links] == [
        (0, 1, "unique_type", "marked_shared")
    ]
    assert r3.outcome == pb.OUTCOME_ATTACHED and r3.person_id == r1.person_id
    assert r4.outcome == pb.OUTCOME_DUPLICATE and r4.person_id == r1.person_id


def test_resolve_returns_display_safe_identifiers_and_link_strengths(stub):
    stub.Ingest(pb.IngestRequest(events=[event("e1", ("customer_id", "ANN"), ("email", "Ann@Example.com"))]))
    resp = stub.Resolve(pb.ResolveRequest(identifier=ident("email", " ann@example.com")))
    person = resp.person
    assert {(i.type, i.display_value.startswith("#")) for i in person.identifiers} == {
        ("customer_id", False),
        ("email", True),
    }
    assert b"ann@example.com" not in resp.SerializeToString().lower()
    [link] = person.links
    assert link.strength == pb.STRENGTH_STRONG
    assert {link.from_node_id, link.to_node_id} == {i.node_id for i in person.identifiers}


def test_resolve_of_an_unknown_identifier_is_not_found(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Resolve(pb.ResolveRequest(identifier=ident("cookie", "nope")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_resolve_of_a_shared_identifier_lists_the_persons_sharing_it(stub):
    resp = stub.Ingest(
        pb.IngestRequest(
            events=[
                event("e1", ("customer_id", "A"), ("cookie", "tv")),
                event("e2", ("customer_id", "B"), ("cookie", "tv")),
            ]
        )
    )
    res = stub.Resolve(pb.ResolveRequest(identifier=ident("cookie", "tv")))
    assert res.shared and set(res.shared_by) == {r.person_id for r in resp.results}
    assert not res.HasField("person")


def test_batch_resolve_reports_each_identifier(stub):
    stub.Ingest(pb.IngestRequest(events=[event("e1", ("customer_id", "A"), ("cookie", "k1"))]))
    resp = stub.BatchResolve(
        pb.BatchResolveRequest(
            identifiers=[
                ident("cookie", "k1"),
                ident("cookie", "never-seen"),
                ident("cookie", "null"),
                ident("customer_id", "A"),
            ]
        )
    )
    found = [(r.index, r.found, r.ignored_reason) for r in resp.results]
    assert found == [(0, True, ""), (1, False, ""), (2, False, "junk_value"), (3, True, "")]
    assert resp.results[0].resolution.person.person_id == resp.results[3].resolution.person.person_id


def test_identity_graph_by_person_or_identifier_carries_provenance_and_aliases(stub):
    first = stub.Ingest(pb.IngestRequest(events=[event("e1", ("cookie", "k1"))])).results[0].person_id
    second = stub.Ingest(pb.IngestRequest(events=[event("e2", ("customer_id", "A"), seconds=1_700_000_050)]))
    second = second.results[0].person_id
    stub.Ingest(
        pb.IngestRequest(events=[event("e3", ("customer_id", "A"), ("cookie", "k1"), seconds=1_700_000_100)])
    )
    by_alias = stub.GetIdentityGraph(pb.GetIdentityGraphRequest(person_id=second))
    by_ident = stub.GetIdentityGraph(pb.GetIdentityGraphRequest(identifier=ident("cookie", "k1")))
    assert by_alias == by_ident
    assert by_alias.person_id == first and list(by_alias.aliases) == [second]
    [edge] = by_alias.edges
    assert (edge.channel, edge.rule, edge.strength, edge.event_count) == (
        "web",
        "web.login",
        pb.STRENGTH_STRONG,
        1,
    )
    assert edge.first_seen.seconds == edge.last_seen.seconds == 1_700_000_100
    with pytest.raises(grpc.RpcError) as err:
        stub.GetIdentityGraph(pb.GetIdentityGraphRequest(person_id="p_nobody"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.GetIdentityGraph(pb.GetIdentityGraphRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "subject" in err.value.details()


def _too_many_ids() -> ev_pb.Event:
    return event("x", *[("cookie", f"k{i}") for i in range(21)])


BAD_EVENTS = {
    "missing event_id": (event("", ("cookie", "k")), r"events\[1\]\.event_id: required"),
    "unknown identifier type": (event("x", ("shoe_size", "42")), r"events\[1\]\.identifiers\[0\]\.type"),
    "more than 20 identifiers": (_too_many_ids(), r"events\[1\]\.identifiers: 21 given"),
    "no identifiers": (event("x"), r"events\[1\]\.identifiers: 0 given"),
    "value over 1 KiB": (
        event("x", ("cookie", "v" * 1025)),
        r"events\[1\]\.identifiers\[0\]\.value: longer than",
    ),
    "malformed timestamp": (
        ev_pb.Event(
            event_id="x",
            channel="web",
            type="t",
            identifiers=[ident("cookie", "k")],
            occurred_at=Timestamp(seconds=1, nanos=2_000_000_000),
        ),
        r"events\[1\]\.occurred_at: malformed timestamp",
    ),
    "unknown channel": (
        event("x", ("cookie", "k"), channel="fax"),
        r"events\[1\]\.channel: not a configured channel",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_bad_input_is_invalid_argument_naming_the_field_and_applies_nothing(stub, case):
    bad, message = BAD_EVENTS[case]
    with pytest.raises(grpc.RpcError) as err:
        stub.Ingest(pb.IngestRequest(events=[event("good", ("customer_id", "ANN")), bad]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search(message, err.value.details()), err.value.details()
    assert "v" * 100 not in err.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        stub.Resolve(pb.ResolveRequest(identifier=ident("customer_id", "ANN")))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_batch_over_the_limit_is_refused(stub):
    events = [event(f"e{i}", ("cookie", f"k{i}")) for i in range(1001)]
    with pytest.raises(grpc.RpcError) as err:
        stub.Ingest(pb.IngestRequest(events=events))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 1000" in err.value.details()


def test_error_messages_never_quote_personal_values(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Resolve(pb.ResolveRequest(identifier=ident("email", "not-an-email-ann.smith")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ann.smith" not in err.value.details()


def test_ingest_stream_applies_chunks_and_summarizes(stub):
    def chunks() -> Iterator[pb.IngestStreamRequest]:
        for c in range(10):
            yield pb.IngestStreamRequest(
                events=[
                    event(f"s{c}-{i}", ("customer_id", f"C{i % 300}"), ("cookie", f"k{c}-{i}"))
                    for i in range(500)
                ]
            )

    summary = stub.IngestStream(chunks())
    assert summary.events_received == 5000
    assert summary.persons_created == 300
    assert summary.events_duplicate == 0
    again = stub.IngestStream(chunks())
    assert again.events_duplicate == 5000 and again.persons_created == 0
    res = stub.Resolve(pb.ResolveRequest(identifier=ident("customer_id", "C7")))
    # C7 is in events 7 and 307 of each of the 10 chunks: itself and 20 cookies.
    assert len(res.person.identifiers) == 21


def test_ingest_stream_stops_at_an_invalid_chunk_keeping_earlier_chunks(stub):
    def chunks() -> Iterator[pb.IngestStreamRequest]:
        yield pb.IngestStreamRequest(events=[event("ok", ("customer_id", "ANN"))])
        yield pb.IngestStreamRequest(
            events=[event("ok2", ("customer_id", "BOB")), event("", ("cookie", "k"))]
        )

    with pytest.raises(grpc.RpcError) as err:
        stub.IngestStream(chunks())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[1].events[1].event_id" in err.value.details()
    assert stub.Resolve(pb.ResolveRequest(identifier=ident("customer_id", "ANN"))).person.person_id
    with pytest.raises(grpc.RpcError):
        stub.Resolve(pb.ResolveRequest(identifier=ident("customer_id", "BOB")))


def test_health_is_serving_and_reflection_lists_the_services(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "idstitch.v1.IdentityService", "idstitch.v1.ProfileService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "idstitch.v1.IdentityService" in services and "grpc.health.v1.Health" in services
    assert "idstitch.v1.ProfileService" in services
