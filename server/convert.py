"""Proto ↔ domain conversion for the identity API. No business logic: shapes only."""

from __future__ import annotations

import time

from google.protobuf.timestamp_pb2 import Timestamp

from common.errors import InvalidArgument
from identity.identifiers import EvidenceClass, Strength, node_id
from identity.model import EdgeState, PersonGraph, PersonNode, StitchResult, UnappliedLink
from identity.reader import Resolution
from identity.service import RawEvent
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb

STRENGTHS = {Strength.WEAK: pb.STRENGTH_WEAK, Strength.STRONG: pb.STRENGTH_STRONG}
CLASSES = {
    EvidenceClass.AUTHENTICATED: pb.EVIDENCE_CLASS_AUTHENTICATED,
    EvidenceClass.SAME_DEVICE: pb.EVIDENCE_CLASS_SAME_DEVICE,
    EvidenceClass.DECLARED: pb.EVIDENCE_CLASS_DECLARED,
    EvidenceClass.CLICK_THROUGH: pb.EVIDENCE_CLASS_CLICK_THROUGH,
}
OUTCOMES = {
    "created": pb.OUTCOME_CREATED,
    "attached": pb.OUTCOME_ATTACHED,
    "merged": pb.OUTCOME_MERGED,
    "duplicate": pb.OUTCOME_DUPLICATE,
    "unattributed": pb.OUTCOME_UNATTRIBUTED,
    "suppressed": pb.OUTCOME_SUPPRESSED,
}
# Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799


def micros(ts: Timestamp, field: str) -> int:
    if not (MIN_SECONDS <= ts.seconds <= MAX_SECONDS and 0 <= ts.nanos < 1_000_000_000):
        raise InvalidArgument(field, "malformed timestamp (seconds or nanos out of range)")
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def timestamp(us: int) -> Timestamp:
    return Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)


def raw_event(event: ev_pb.Event, field: str, now_us: int | None = None) -> RawEvent:
    """What stitching needs of an event. The raw identifier values go no further than the
    normalizer; the profile store gets the rest as facts (server.profile_convert)."""
    if event.HasField("occurred_at"):
        occurred = micros(event.occurred_at, f"{field}.occurred_at")
    else:
        occurred = now_us if now_us is not None else time.time_ns() // 1000
    identifiers = [(i.type, i.value) for i in event.identifiers]
    return RawEvent(
        event_id=event.event_id,
        occurred_at=occurred,
        channel=event.channel,
        type=event.type,
        identifiers=identifiers,
        device_type=event.context.device_type,
    )


def event_result(r: StitchResult) -> pb.EventResult:
    return pb.EventResult(
        event_id=r.event_id,
        person_id=r.person_id or "",
        outcome=OUTCOMES[r.outcome],
        refused_links=[
            pb.RefusedLink(from_index=x.from_index, to_index=x.to_index, rule=x.rule, action=x.action)
            for x in r.refused
        ],
        ignored_identifiers=[
            pb.IgnoredIdentifier(index=i.index, type=i.type, reason=i.reason) for i in r.ignored
        ],
        merged_person_ids=r.merged_person_ids,
    )


def resolve_response(res: Resolution) -> pb.ResolveResponse:
    if res.shared is not None:
        return pb.ResolveResponse(shared=True, shared_by=res.shared.shared_by)
    assert res.person is not None
    g = res.person
    return pb.ResolveResponse(
        person=pb.ResolvedPerson(
            person_id=g.person_id,
            identifiers=[_node(n) for n in g.nodes],
            links=[
                pb.LinkStrength(
                    from_node_id=node_id(e.a),
                    to_node_id=node_id(e.b),
                    strength=STRENGTHS[e.strength],
                    evidence_class=CLASSES[e.proves],
                )
                for e in g.edges
            ],
        )
    )


def graph_response(g: PersonGraph) -> pb.GetIdentityGraphResponse:
    return pb.GetIdentityGraphResponse(
        person_id=g.person_id,
        aliases=g.aliases,
        nodes=[_node(n) for n in g.nodes],
        edges=[edge(e) for e in g.edges],
        unapplied_links=[unapplied(u) for u in g.unapplied],
    )


def unapplied(u: UnappliedLink) -> pb.UnappliedLink:
    e = u.edge
    return pb.UnappliedLink(
        from_node_id=node_id(u.key), other_person_id=u.other_person_id, rule=e.rule, channel=e.channel,
        first_seen=timestamp(e.first_seen), last_seen=timestamp(e.last_seen), event_count=e.event_count,
        evidence_class=CLASSES[e.proves],
    )  # fmt: skip


def _node(n: PersonNode) -> pb.GraphNode:
    return pb.GraphNode(
        node_id=node_id(n.key),
        type=n.type,
        display_value=n.display,
        shared=n.shared,
        first_seen=timestamp(n.first_seen),
        last_seen=timestamp(n.last_seen),
    )


def edge(e: EdgeState) -> pb.GraphEdge:
    return pb.GraphEdge(
        from_node_id=node_id(e.a),
        to_node_id=node_id(e.b),
        first_seen=timestamp(e.first_seen),
        last_seen=timestamp(e.last_seen),
        channel=e.channel,
        event_count=e.event_count,
        rule=e.rule,
        strength=STRENGTHS[e.strength],
        evidence_class=CLASSES[e.proves],
    )
