"""PrivacyService over gRPC: converts messages and calls the domain service."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import msgspec
from google.protobuf import json_format

from common.errors import InvalidArgument
from identity.identifiers import is_hashed, node_id
from idstitch.v1 import privacy_service_pb2 as pb
from idstitch.v1 import privacy_service_pb2_grpc as pb_grpc
from privacy.records import ErasureRecord
from server import profile_convert
from server.caller import caller
from server.convert import micros, timestamp
from usecases.privacy_requests import Export, PrivacyRequests

EVENTS_PER_CHUNK = 500


class PrivacyServicer(pb_grpc.PrivacyServiceServicer):
    def __init__(self, service: PrivacyRequests) -> None:
        self._svc = service

    def Erase(self, request: pb.EraseRequest, context: grpc.ServicerContext) -> pb.EraseResponse:
        subject = profile_convert.profile_key(request.subject, "subject")
        return pb.EraseResponse(
            receipt=_receipt(self._svc.erase(subject, request.request_id, caller=caller()))
        )

    def GetErasure(
        self, request: pb.GetErasureRequest, context: grpc.ServicerContext
    ) -> pb.GetErasureResponse:
        if not request.erasure_id:
            raise InvalidArgument("erasure_id", "required")
        return pb.GetErasureResponse(receipt=_receipt(self._svc.erasure(request.erasure_id, caller=caller())))

    def Export(self, request: pb.ExportRequest, context: grpc.ServicerContext) -> Iterator[pb.ExportResponse]:
        subject = profile_convert.profile_key(request.subject, "subject")
        export = self._svc.export(subject, caller=caller())  # errors before the first chunk
        return (pb.ExportResponse(data=chunk.encode()) for chunk in export_document(export))

    def SetConsent(
        self, request: pb.SetConsentRequest, context: grpc.ServicerContext
    ) -> pb.SetConsentResponse:
        if request.decision not in (pb.CONSENT_DECISION_GRANTED, pb.CONSENT_DECISION_DENIED):
            raise InvalidArgument(
                "decision", "CONSENT_DECISION_GRANTED or CONSENT_DECISION_DENIED is required"
            )
        person_id, applied = self._svc.set_consent(
            profile_convert.profile_key(request.subject, "subject"),
            request_id=request.request_id,
            purpose=request.purpose,
            granted=request.decision == pb.CONSENT_DECISION_GRANTED,
            source=request.source,
            at=micros(request.decided_at, "decided_at") if request.HasField("decided_at") else None,
            caller=caller(),
        )
        return pb.SetConsentResponse(person_id=person_id, applied=applied)


def _receipt(r: ErasureRecord) -> pb.ErasureReceipt:
    out = pb.ErasureReceipt(
        erasure_id=r.erasure_id, request_id=r.request_id, started_at=timestamp(r.started_at), counts=r.counts
    )
    if r.completed_at is not None:
        out.completed_at.CopyFrom(timestamp(r.completed_at))
    return out


def export_document(x: Export) -> Iterator[str]:
    """The export as JSON text in pieces: the person, then its events a few hundred at a time, so a
    long history is never one message (or one string) in memory."""
    p = x.person
    head = {
        "format": "idstitch.export.v1",
        "person_id": p.person_id,
        "aliases": list(p.aliases),
        "identifiers": [
            {
                "type": n.type,
                # Personal values are held only as a keyed hash: that is what we can give back.
                ("hashed_value" if is_hashed(n.key) else "value"): n.display,
                "shared": n.shared,
                "first_seen_us": n.first_seen,
                "last_seen_us": n.last_seen,
            }
            for n in p.nodes
        ],
        "links": [
            {
                "from": node_id(e.a),
                "to": node_id(e.b),
                "rule": e.rule,
                "strength": e.strength.name.lower(),
                "evidence_class": e.proves.label,
                "channel": e.channel,
                "event_count": e.event_count,
                "first_seen_us": e.first_seen,
                "last_seen_us": e.last_seen,
            }
            for e in p.edges
        ],
        "profile": json_format.MessageToDict(profile_convert.profile(x.profile, full=True)),
        "consent": [
            {
                "purpose": c.purpose,
                "granted": c.granted,
                "conflict": c.conflict,
                "source": c.latest.source,
                "updated_at_us": c.latest.at,
            }
            for c in x.consent
        ],
    }
    text = json.dumps(head, sort_keys=True)
    yield text[:-1] + ', "events": ['
    for start in range(0, len(x.events), EVENTS_PER_CHUNK):
        part = x.events[start : start + EVENTS_PER_CHUNK]
        body = ", ".join(
            json.dumps({"identifier_nodes": [node_id(k) for k in e.keys], **_plain_struct(e.facts)})
            for e in part
        )
        yield ("" if start == 0 else ", ") + body
    yield "]}"


def _plain_struct(value: msgspec.Struct) -> dict[str, object]:
    return {f: _plain(getattr(value, f)) for f in value.__struct_fields__}


def _plain(value: object) -> object:
    """Structs as objects with named fields (they are stored as compact arrays)."""
    if isinstance(value, msgspec.Struct):
        return _plain_struct(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
