"""System requests end to end over real gRPC: consent, streamed export, erasure with its receipt,
and a late event suppressed."""

from __future__ import annotations

import json

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

pytestmark = pytest.mark.e2e


def subject(t: str, v: str) -> ppb.ProfileKey:
    return ppb.ProfileKey(identifier=ev_pb.Identifier(type=t, value=v))


def event(event_id: str, seconds: int, *ids: tuple[str, str], type: str = "product_view") -> ev_pb.Event:
    return ev_pb.Event(
        event_id=event_id, occurred_at=Timestamp(seconds=seconds), channel="web", type=type,
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        product=ev_pb.Product(sku="g1", category="grills"),
    )  # fmt: skip


def test_consent_export_erase_and_suppression_over_grpc(channel: grpc.Channel) -> None:
    ingest, profiles = pb_grpc.IdentityServiceStub(channel), ppb_grpc.ProfileServiceStub(channel)
    privacy = priv_grpc.PrivacyServiceStub(channel)
    ingest.Ingest(pb.IngestRequest(events=[
        event("e1", 1_700_000_000, ("customer_id", "C1"), ("email", "ann@example.com"), type="login"),
        event("e2", 1_700_000_100, ("customer_id", "C1"), ("cookie", "k1")),
    ]))  # fmt: skip

    denied = priv.SetConsentRequest(subject=subject("email", "ann@example.com"), request_id="c1",
                                    purpose="personalization", decision=priv.CONSENT_DECISION_DENIED,
                                    source="preference-centre")  # fmt: skip
    assert privacy.SetConsent(denied).applied
    got = profiles.GetProfile(ppb.GetProfileRequest(key=subject("cookie", "k1"))).profile
    assert got.restricted and not got.HasField("behavior") and got.consent[0].purpose == "personalization"
    with pytest.raises(grpc.RpcError) as err:
        privacy.SetConsent(priv.SetConsentRequest(subject=subject("cookie", "k1"), request_id="c2",
                                                  purpose="personalization", source="x"))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "decision" in err.value.details()

    chunks = list(privacy.Export(priv.ExportRequest(subject=subject("customer_id", "C1"))))
    doc = json.loads(b"".join(c.data for c in chunks))
    assert {e["event_id"] for e in doc["events"]} == {"e1", "e2", "idstitch:consent:c1"}
    assert doc["profile"]["context"]["events"] == "2" and "ann@example.com" not in json.dumps(doc)

    receipt = privacy.Erase(
        priv.EraseRequest(subject=subject("customer_id", "C1"), request_id="dsr-7")
    ).receipt
    assert receipt.erasure_id and receipt.HasField("completed_at")
    assert (receipt.counts.identifiers, receipt.counts.events, receipt.counts.consent_records) == (3, 3, 1)
    assert (
        privacy.Erase(priv.EraseRequest(subject=subject("customer_id", "C1"), request_id="dsr-7")).receipt
        == receipt
    )
    assert privacy.GetErasure(priv.GetErasureRequest(erasure_id=receipt.erasure_id)).receipt == receipt

    late = ingest.Ingest(pb.IngestRequest(events=[event("e3", 1_700_000_200, ("cookie", "k1"))])).results[0]
    assert late.outcome == pb.OUTCOME_SUPPRESSED
    with pytest.raises(grpc.RpcError) as err:
        profiles.GetProfile(ppb.GetProfileRequest(key=subject("cookie", "k1")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        list(privacy.Export(priv.ExportRequest(subject=subject("customer_id", "C1"))))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
