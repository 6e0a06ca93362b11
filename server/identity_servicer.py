"""IdentityService over gRPC: converts messages and calls the domain service."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import grpc

from common.errors import InvalidArgument
from identity.model import StitchResult
from identity.reader import IdentityReader
from identity.service import MAX_BATCH
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from server import convert
from server.caller import caller
from server.profile_convert import ingest_batch
from usecases.ingest import Ingest
from usecases.splits import Splits


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(
        self, *, reads: IdentityReader, render: IdentityReader, ingest: Ingest, splits: Splits
    ) -> None:
        """`render`: the reads of the page-render path (Resolve, BatchResolve), which the read
        cache may answer; `reads`: every other read, from the stores."""
        self._reads = reads
        self._render = render
        self._ingest_batch = ingest
        self._splits = splits

    def _ingest(self, events: Sequence[ev_pb.Event], field: str) -> list[StitchResult]:
        """Stitches the events and folds them into profiles: usecases/ingest.py."""
        return self._ingest_batch(ingest_batch(events, field, time.time_ns() // 1000), field=field)

    def Ingest(self, request: pb.IngestRequest, context: grpc.ServicerContext) -> pb.IngestResponse:
        if len(request.events) > MAX_BATCH:
            raise InvalidArgument("events", f"{len(request.events)} events in one batch; at most {MAX_BATCH}")
        results = self._ingest(request.events, "events")
        return pb.IngestResponse(results=[convert.event_result(r) for r in results])

    def IngestStream(
        self, request_iterator: Iterator[pb.IngestStreamRequest], context: grpc.ServicerContext
    ) -> pb.IngestStreamResponse:
        # The next chunk is read only after this one is committed: gRPC's flow control then holds
        # the sender back instead of the server buffering a back-fill in memory.
        totals = pb.IngestStreamResponse()
        for n, chunk in enumerate(request_iterator):
            field = f"requests[{n}].events"
            if len(chunk.events) > MAX_BATCH:
                raise InvalidArgument(
                    field, f"{len(chunk.events)} events in one message; at most {MAX_BATCH}"
                )
            for r in self._ingest(chunk.events, field):
                totals.events_received += 1
                totals.events_duplicate += r.outcome == "duplicate"
                totals.persons_created += r.outcome == "created"
                totals.persons_merged += len(r.merged_person_ids)
                totals.events_unattributed += r.outcome == "unattributed"
                totals.events_suppressed += r.outcome == "suppressed"
                totals.links_refused += len(r.refused)
                totals.identifiers_ignored += len(r.ignored)
        return totals

    def Resolve(self, request: pb.ResolveRequest, context: grpc.ServicerContext) -> pb.ResolveResponse:
        ident = request.identifier
        found = self._render.resolve(ident.type, ident.value)
        return convert.resolve_response(found)

    def BatchResolve(
        self, request: pb.BatchResolveRequest, context: grpc.ServicerContext
    ) -> pb.BatchResolveResponse:
        if len(request.identifiers) > MAX_BATCH:
            raise InvalidArgument("identifiers", f"{len(request.identifiers)} given; at most {MAX_BATCH}")
        keys = [
            self._render.key_of(i.type, i.value, field=f"identifiers[{n}]")
            for n, i in enumerate(request.identifiers)
        ]
        found = self._render.resolve_keys({k.key for k in keys if not isinstance(k, str)})
        out = pb.BatchResolveResponse()
        for n, key in enumerate(keys):
            item = out.results.add(index=n)
            if isinstance(key, str):
                item.ignored_reason = key
            elif (res := found.get(key.key)) is not None:
                item.resolution.CopyFrom(convert.resolve_response(res))
                item.found = True
            else:
                item.found = False
        return out

    def GetIdentityGraph(
        self, request: pb.GetIdentityGraphRequest, context: grpc.ServicerContext
    ) -> pb.GetIdentityGraphResponse:
        subject = request.WhichOneof("subject")
        if subject == "person_id":
            return convert.graph_response(self._reads.person(request.person_id))
        if subject == "identifier":
            res = self._reads.resolve(request.identifier.type, request.identifier.value)
            if res.person is None:
                raise InvalidArgument(
                    "identifier", "shared identifier names no single person; ask by person_id"
                )
            return convert.graph_response(res.person)
        raise InvalidArgument("subject", "one of person_id or identifier is required")

    def ExplainLink(
        self, request: pb.ExplainLinkRequest, context: grpc.ServicerContext
    ) -> pb.ExplainLinkResponse:
        x = self._reads.explain((request.a.type, request.a.value), (request.b.type, request.b.value))
        return pb.ExplainLinkResponse(
            same_person=x.same_person,
            person_a=x.person_a or "",
            person_b=x.person_b or "",
            path=[convert.edge(e) for e in x.path],
            held=[pb.HeldLink(link=convert.unapplied(u), held_by=why) for u, why in x.held],
            explanation=x.explanation,
        )

    def DetachIdentifier(
        self, request: pb.DetachIdentifierRequest, context: grpc.ServicerContext
    ) -> pb.DetachIdentifierResponse:
        if request.mode not in (pb.DETACH_MODE_NEW_PERSON, pb.DETACH_MODE_SHARED):
            raise InvalidArgument("mode", "DETACH_MODE_NEW_PERSON or DETACH_MODE_SHARED is required")
        done = self._splits.detach(
            request.identifier.type,
            request.identifier.value,
            to_new_person=request.mode == pb.DETACH_MODE_NEW_PERSON,
            caller=caller(),
        )
        return pb.DetachIdentifierResponse(
            person_id=done.person_id,
            new_person_id=done.new_person_id or "",
            person_events=done.person_events,
            new_person_events=done.new_person_events,
        )
