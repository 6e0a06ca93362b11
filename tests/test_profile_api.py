"""Profiles end to end over real gRPC: read-your-writes, field masks, batches, traits, detach, and
bad input refused with the field named."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.v1 import admin_service_pb2 as admin_pb
from idstitch.v1 import admin_service_pb2_grpc as admin_grpc
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from idstitch.v1 import profile_service_pb2_grpc as ppb_grpc

pytestmark = pytest.mark.e2e


@pytest.fixture
def ingest(channel: grpc.Channel) -> pb_grpc.IdentityServiceStub:
    return pb_grpc.IdentityServiceStub(channel)


@pytest.fixture
def profiles(channel: grpc.Channel) -> ppb_grpc.ProfileServiceStub:
    return ppb_grpc.ProfileServiceStub(channel)


def ident(t: str, v: str) -> ev_pb.Identifier:
    return ev_pb.Identifier(type=t, value=v)


def key(t: str, v: str) -> ppb.ProfileKey:
    return ppb.ProfileKey(identifier=ident(t, v))


def view(event_id: str, cookie: str, sku: str, at: int = 0, **product: object) -> ev_pb.Event:
    return ev_pb.Event(
        event_id=event_id,
        occurred_at=Timestamp(seconds=1_700_000_000 + at),
        channel="web",
        type="product_view",
        identifiers=[ident("cookie", cookie)],
        product=ev_pb.Product(sku=sku, category="grills", **product),  # type: ignore[arg-type]
    )


def rpc_error(call: object, *args: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args)  # type: ignore[operator]
    return err.value


def test_every_page_view_is_in_the_very_next_profile_read(ingest, profiles):
    for n in range(20):
        ingest.Ingest(pb.IngestRequest(events=[view(f"v{n}", "k1", f"sku-{n}", at=n)]))
        got = profiles.GetProfile(ppb.GetProfileRequest(key=key("cookie", "k1"))).profile
        assert got.behavior.viewed_products[0].sku == f"sku-{n}"
        assert got.context.events == n + 1


def test_a_read_mask_returns_only_the_fields_asked_for(ingest, profiles):
    ingest.Ingest(pb.IngestRequest(events=[view("v1", "k1", "g1")]))
    req = ppb.GetProfileRequest(key=key("cookie", "k1"))
    req.read_mask.paths.extend(["affinities.categories", "history.orders"])
    got = profiles.GetProfile(req).profile
    assert got.person_id and got.computed_at.seconds > 0
    assert [a.name for a in got.affinities.categories] == ["grills"]
    assert not got.HasField("context") and not got.HasField("behavior")


def test_an_unknown_field_in_the_mask_is_invalid_argument_naming_it(profiles):
    req = ppb.GetProfileRequest(key=key("cookie", "k1"))
    req.read_mask.paths.extend(["history", "history.favourite_colour"])
    err = rpc_error(profiles.GetProfile, req)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "read_mask.paths[1]" in err.details()


def test_batch_get_reports_each_key(ingest, profiles):
    ingest.Ingest(pb.IngestRequest(events=[view("v1", "k1", "g1")]))
    resp = profiles.BatchGetProfiles(
        ppb.BatchGetProfilesRequest(keys=[key("cookie", "k1"), key("cookie", "nope"), key("cookie", "null")])
    )
    assert [(r.found, r.reason) for r in resp.results] == [
        (True, ""),
        (False, "unknown"),
        (False, "junk_value"),
    ]
    assert resp.results[0].profile.context.events == 1
    too_many = ppb.BatchGetProfilesRequest(keys=[key("cookie", "k1")] * 501)
    assert "keys" in rpc_error(profiles.BatchGetProfiles, too_many).details()


def test_update_traits_checks_types_and_is_idempotent_by_request_id(ingest, profiles):
    ingest.Ingest(pb.IngestRequest(events=[view("v1", "k1", "g1")]))
    ok = ppb.UpdateTraitsRequest(
        key=key("cookie", "k1"),
        request_id="crm-1",
        traits=[ppb.TraitUpdate(name="household_size", value=ppb.TraitValue(integer=4), source="crm")],
    )
    assert profiles.UpdateTraits(ok).applied
    assert not profiles.UpdateTraits(ok).applied
    got = profiles.GetProfile(ppb.GetProfileRequest(key=key("cookie", "k1"))).profile
    assert [(t.name, t.value.integer, t.source) for t in got.traits] == [("household_size", 4, "crm")]
    bad = ppb.UpdateTraitsRequest(
        key=key("cookie", "k1"),
        request_id="crm-2",
        traits=[ppb.TraitUpdate(name="household_size", value=ppb.TraitValue(text="four"), source="crm")],
    )
    err = rpc_error(profiles.UpdateTraits, bad)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "traits[0].value" in err.details()


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({"price": ev_pb.Money(amount_minor=100)}, "events[0].product.price.currency"),
        ({"price": ev_pb.Money(amount_minor=-1, currency="USD")}, "events[0].product.price.amount_minor"),
        ({"quantity": -2}, "events[0].product.quantity"),
    ],
)
def test_bad_money_is_refused_naming_the_field_and_nothing_is_applied(ingest, profiles, product, field):
    err = rpc_error(ingest.Ingest, pb.IngestRequest(events=[view("v1", "k1", "g1", **product)]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.details()
    assert rpc_error(ingest.Resolve, pb.ResolveRequest(identifier=ident("cookie", "k1"))).code() == (
        grpc.StatusCode.NOT_FOUND
    )


def test_detach_over_grpc_splits_the_person_and_its_profile(ingest, profiles, channel):
    login = ev_pb.Event(
        event_id="l1",
        occurred_at=Timestamp(seconds=1_700_000_000),
        channel="web",
        type="login",
        identifiers=[ident("customer_id", "C1"), ident("cookie", "k1")],
    )
    ingest.Ingest(pb.IngestRequest(events=[login, view("v1", "k1", "g1")]))
    unspecified = pb.DetachIdentifierRequest(identifier=ident("cookie", "k1"))
    assert rpc_error(ingest.DetachIdentifier, unspecified).code() == grpc.StatusCode.INVALID_ARGUMENT
    done = ingest.DetachIdentifier(
        pb.DetachIdentifierRequest(identifier=ident("cookie", "k1"), mode=pb.DETACH_MODE_NEW_PERSON)
    )
    assert (done.person_events, done.new_person_events) == (1, 1)
    audit = admin_grpc.AdminServiceStub(channel).ListAudit(admin_pb.ListAuditRequest()).records
    assert [(r.operation, r.detail["mode"]) for r in audit] == [("detach_identifier", "new_person")]
    cookie = profiles.GetProfile(ppb.GetProfileRequest(key=key("cookie", "k1"))).profile
    assert cookie.person_id == done.new_person_id and cookie.behavior.viewed_products[0].sku == "g1"
    login_profile = profiles.GetProfile(ppb.GetProfileRequest(key=key("customer_id", "C1"))).profile
    assert not login_profile.behavior.viewed_products
