"""One small population run through every service, shared by the telemetry tests: nine
identifiers of one shopper (and a second login) whose values must never appear in telemetry."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as priv
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from idstitch.v1 import profile_service_pb2_grpc as ppb_grpc

IDENTIFIERS = [
    ("customer_id", "CUST-Telemetry-001"),
    ("email", "Tele.Metry@Example.org"),
    ("phone", "+1 (415) 555-0199"),
    ("cookie", "ck-telemetry-aa"),
    ("cookie", "ck-telemetry-bb"),
    ("device_id", "DEV-TELEMETRY-77"),
    ("loyalty_number", "LOY-TELEMETRY-5"),
    ("card_token", "tok-telemetry-9"),
    ("customer_id", "CUST-Telemetry-002"),
]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def event(n: int, *ids: tuple[str, str], channel: str = "web", type: str = "login") -> ev_pb.Event:
    return ev_pb.Event(
        event_id=f"t{n}", occurred_at=Timestamp(seconds=1_700_000_000 + n), channel=channel, type=type,
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        product=ev_pb.Product(sku="s1", category="grills"),
    )  # fmt: skip


def exercise(ch: grpc.Channel) -> None:
    ingest, profiles, privacy = (
        pb_grpc.IdentityServiceStub(ch),
        ppb_grpc.ProfileServiceStub(ch),
        priv_grpc.PrivacyServiceStub(ch),
    )
    c1, email, phone, ck_a, ck_b, dev, loyalty, card, c2 = IDENTIFIERS
    events = [
        event(1, c1, ck_a, email),
        event(2, dev, channel="app", type="product_view"),
        event(3, c1, dev, channel="app"),
        event(4, loyalty, card, phone, channel="pos", type="purchase"),
        event(5, c1, loyalty, channel="pos"),
        event(6, c2, ck_a),  # a second login on Ann's cookie: shared
        event(7, ck_b, ("cookie", "undefined"), type="page_view"),
        event(8, email, ck_b, channel="email", type="email_click"),
    ]
    traceparent = (("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"),)
    ingest.Ingest(pb.IngestRequest(events=events), metadata=traceparent)
    ident = lambda t, v: ev_pb.Identifier(type=t, value=v)  # noqa: E731
    ingest.Resolve(pb.ResolveRequest(identifier=ident(*email)))
    ingest.BatchResolve(
        pb.BatchResolveRequest(identifiers=[ident(*phone), ident(*card), ident("cookie", "nope")])
    )
    key = ppb.ProfileKey(identifier=ident(*c1))
    profiles.GetProfile(ppb.GetProfileRequest(key=key))
    with pytest.raises(grpc.RpcError):
        profiles.GetProfile(
            ppb.GetProfileRequest(key=ppb.ProfileKey(identifier=ident("cookie", "missing-x")))
        )
    profiles.UpdateTraits(ppb.UpdateTraitsRequest(key=key, request_id="r1", traits=[
        ppb.TraitUpdate(name="loyalty_tier", value=ppb.TraitValue(text="gold"), source="crm")]))  # fmt: skip
    granted = priv.CONSENT_DECISION_GRANTED
    privacy.SetConsent(
        priv.SetConsentRequest(
            subject=key, request_id="c1", purpose="analytics", decision=granted, source="banner"
        )
    )
    list(privacy.Export(priv.ExportRequest(subject=key)))
    privacy.Erase(priv.EraseRequest(subject=key, request_id="e1"))
    ingest.Ingest(pb.IngestRequest(events=[event(0, c1, ck_b)]))  # from before the erasure: suppressed
