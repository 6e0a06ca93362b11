"""A hostile or careless caller, over real gRPC: each test reproduces one defect of the hardening
probe (issue 16) and fails on the code before its fix."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as privacy_pb
from idstitch.v1 import privacy_service_pb2_grpc as privacy_pb_grpc
from idstitch.v1 import profile_service_pb2 as profile_pb
from idstitch.v1 import profile_service_pb2_grpc as profile_pb_grpc
from server.app import RunningServer, create_server
from server.bounds import MAX_AMOUNT_MINOR
from server.config import Settings, load_settings
from server.profile_size import max_profile_bytes

pytestmark = pytest.mark.e2e
IDENTITY = pb_grpc.IdentityServiceStub
T0 = 1_700_000_000


def event(eid: str, *ids: tuple[str, str], seconds: int = T0, **kw: object) -> ev_pb.Event:
    return ev_pb.Event(
        event_id=eid,
        occurred_at=Timestamp(seconds=seconds),
        channel=kw.pop("channel", "web"),  # type: ignore[arg-type]
        type=kw.pop("type", "page_view"),  # type: ignore[arg-type]
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        **kw,  # type: ignore[arg-type]
    )


def purchase(eid: str, customer: str, **order: object) -> ev_pb.Event:
    return event(eid, ("customer_id", customer), type="purchase", order=ev_pb.Order(**order))  # type: ignore[arg-type]


def resolves(stub: pb_grpc.IdentityServiceStub, t: str, v: str) -> bool:
    try:
        stub.Resolve(pb.ResolveRequest(identifier=ev_pb.Identifier(type=t, value=v)))
        return True
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND
        return False


def invalid(call: object, *args: object) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call(*args)  # type: ignore[operator]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return err.value.details()


# -- 1. money overflow ------------------------------------------------------------------------


def test_money_and_quantities_are_bounded_and_a_bad_one_applies_nothing_of_its_batch(channel):
    stub = IDENTITY(channel)
    good = [
        purchase(f"ok-{i}", f"C-{i}", total=ev_pb.Money(amount_minor=1999, currency="USD")) for i in range(50)
    ]
    huge_total = purchase("bad-1", "C-X", total=ev_pb.Money(amount_minor=2**63 - 1, currency="USD"))
    huge_line = purchase(
        "bad-2",
        "C-Y",
        items=[
            ev_pb.OrderItem(
                sku="s", quantity=2**31 - 1, unit_price=ev_pb.Money(amount_minor=10**12, currency="USD")
            )
        ],
    )
    msg = invalid(stub.Ingest, pb.IngestRequest(events=[*good, huge_total]))
    assert msg.startswith("events[50].order.total.amount_minor:") and str(2**63 - 1) not in msg
    msg = invalid(stub.Ingest, pb.IngestRequest(events=[*good, huge_line]))
    assert msg.startswith("events[50].order.items[0].quantity:")
    assert not any(resolves(stub, "customer_id", f"C-{i}") for i in range(50))
    # At the bound, the profile and its export still answer.
    stub.Ingest(
        pb.IngestRequest(
            events=[purchase("max", "C-M", total=ev_pb.Money(amount_minor=MAX_AMOUNT_MINOR, currency="USD"))]
        )
    )
    key = profile_pb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value="C-M"))
    got = profile_pb_grpc.ProfileServiceStub(channel).GetProfile(profile_pb.GetProfileRequest(key=key))
    assert got.profile.history.revenue[0].amount_minor == MAX_AMOUNT_MINOR
    export = privacy_pb_grpc.PrivacyServiceStub(channel).Export(privacy_pb.ExportRequest(subject=key))
    assert b"".join(m.data for m in export)


def test_a_fold_that_fails_leaves_the_graph_untouched(server: RunningServer, channel, monkeypatch):
    stub = IDENTITY(channel)

    def boom(state: object, facts: object) -> None:
        raise RuntimeError("injected fold failure")

    monkeypatch.setattr(server.system.folder, "_fold_one", boom)
    batch = pb.IngestRequest(
        events=[event(f"f-{i}", ("customer_id", f"F-{i}"), ("cookie", f"fk-{i}")) for i in range(5)]
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.Ingest(batch)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert not any(resolves(stub, "customer_id", f"F-{i}") for i in range(5))
    monkeypatch.undo()
    results = stub.Ingest(batch).results  # the retry applies it whole
    assert [r.outcome for r in results] == [pb.OUTCOME_CREATED] * 5


# -- 2. bounded strings and a bounded profile -------------------------------------------------


def test_long_product_strings_are_refused(channel):
    long = "x" * (256 * 1024)
    msg = invalid(
        IDENTITY(channel).Ingest,
        pb.IngestRequest(
            events=[
                event("p1", ("cookie", "c"), type="product_view", product=ev_pb.Product(sku="s", name=long))
            ]
        ),
    )
    assert msg == "events[0].product.name: longer than 256 bytes"


def _maximal(n: int) -> ev_pb.Event:
    """A product view or purchase of the hostile person with every string at its bound and every
    value new: new products, categories, brands, sessions, cities, referrers, devices, currencies."""
    s = f"{n:06d}"
    ctx = ev_pb.Context(
        device_type=s.ljust(1024, "d"),
        city=s.ljust(1024, "c"),
        region="r" * 1024,
        country="k" * 1024,
        referrer=f"https://{s}.example/" + "q" * 2000,
        store_id="t" * 1024,
        session_id=s.ljust(1024, "s"),
        user_agent="u" * 1024,
        page_url="p" * 2048,
    )
    ids = [("customer_id", "HOSTILE"), ("device_id", s.ljust(1024, "v"))]
    if n % 2:
        item = ev_pb.OrderItem(
            sku=s.ljust(256, "k"),
            name="n" * 256,
            category=s.ljust(256, "g"),
            brand=s.ljust(256, "b"),
            quantity=1,
            unit_price=ev_pb.Money(amount_minor=10**6, currency=_currency(n)),
        )
        return event(
            f"h{s}",
            *ids,
            seconds=T0 + n,
            type="purchase",
            context=ctx,
            order=ev_pb.Order(items=[item], coupon_code="z" * 256),
        )
    product = ev_pb.Product(
        sku=s.ljust(256, "k"),
        name="n" * 256,
        category=s.ljust(256, "g"),
        brand=s.ljust(256, "b"),
        price=ev_pb.Money(amount_minor=10**6, currency=_currency(n)),
    )
    return event(
        f"h{s}",
        *ids,
        seconds=T0 + n,
        type="product_view",
        context=ctx,
        product=product,
        campaign=ev_pb.Campaign(campaign_id="i" * 256, name="m" * 256),
    )


def _currency(n: int) -> str:
    return "".join(chr(65 + (n // 26**k) % 26) for k in range(3))


def test_a_hostile_person_s_profile_stays_under_the_printed_bound(channel, settings: Settings):
    stub = IDENTITY(channel)
    for start in range(0, 10_000, 500):
        stub.Ingest(pb.IngestRequest(events=[_maximal(n) for n in range(start, start + 500)]))
    key = profile_pb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value="HOSTILE"))
    profile = (
        profile_pb_grpc.ProfileServiceStub(channel).GetProfile(profile_pb.GetProfileRequest(key=key)).profile
    )
    bound = max_profile_bytes(settings)
    assert (
        profile.context.events == 10_000
        and len(profile.context.devices) == settings.profile_rules.devices_limit
    )
    assert len(profile.history.revenue) == 5_000  # one currency per purchase: many
    assert profile.ByteSize() <= bound, (profile.ByteSize(), bound)
    assert bound < settings.max_message_bytes // 4


# -- 3. no value in an error ------------------------------------------------------------------


def test_errors_never_quote_the_value_even_a_long_or_personal_one(channel):
    stub = IDENTITY(channel)
    for bad in ("dan.y@example.com", "dan.y@example.com" * 1200):
        msg = invalid(stub.Ingest, pb.IngestRequest(events=[event("e", ("cookie", "c"), channel=bad)]))
        assert "dan.y" not in msg and msg.startswith("events[0].channel:")
        msg = invalid(stub.Ingest, pb.IngestRequest(events=[event("e", (bad, "c"))]))
        assert "dan.y" not in msg and msg.startswith("events[0].identifiers[0].type:")
        key = profile_pb.ProfileKey(person_id="p_x")
        msg = invalid(
            profile_pb_grpc.ProfileServiceStub(channel).GetProfile,
            profile_pb.GetProfileRequest(key=key, read_mask={"paths": [bad]}),
        )
        assert "dan.y" not in msg and msg.startswith("read_mask.paths[0]")
        msg = invalid(
            privacy_pb_grpc.PrivacyServiceStub(channel).SetConsent,
            privacy_pb.SetConsentRequest(
                subject=key,
                request_id="r",
                purpose=bad,
                source="s",
                decision=privacy_pb.CONSENT_DECISION_DENIED,
            ),
        )
        assert "dan.y" not in msg and msg.startswith("purpose")
        msg = invalid(
            profile_pb_grpc.ProfileServiceStub(channel).UpdateTraits,
            profile_pb.UpdateTraitsRequest(
                key=key, request_id="r", traits=[profile_pb.TraitUpdate(name=bad, source="crm")]
            ),
        )
        assert "dan.y" not in msg and msg.startswith("traits[0].name")


# -- 4. authentication before parsing ---------------------------------------------------------


def _raw(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable:
    return channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def test_a_body_is_not_parsed_before_its_caller_is_known(server: RunningServer, settings, caplog):
    garbage = bytes(range(256)) * 8
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as anonymous:
        for method in ("/idstitch.v1.IdentityService/Ingest", "/idstitch.v1.ProfileService/GetProfile"):
            with pytest.raises(grpc.RpcError) as err:
                _raw(anonymous, method)(garbage)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        key = (settings.data_dir / "admin.key").read_text().strip()
        with caplog.at_level(logging.ERROR), pytest.raises(grpc.RpcError) as err:
            _raw(anonymous, "/idstitch.v1.IdentityService/Ingest")(
                garbage, metadata=[("authorization", f"Bearer {key}")]
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- 5. bounded memory ------------------------------------------------------------------------


def test_the_identifier_cache_is_bounded_by_bytes_and_fed_by_accepted_batches_only(
    server: RunningServer, channel
):
    stub = IDENTITY(channel)
    cache = server.service.normalizer.cache
    before = cache.bytes
    fresh = [event(f"r{i}", ("cookie", f"{i:04d}".ljust(1024, "z"))) for i in range(999)]
    invalid(stub.Ingest, pb.IngestRequest(events=[*fresh, event("", ("cookie", "x"))]))
    stub.BatchResolve(pb.BatchResolveRequest(identifiers=[e.identifiers[0] for e in fresh]))
    assert cache.bytes == before
    stub.Ingest(pb.IngestRequest(events=fresh))
    assert cache.bytes > before + 999 * 1024
    cache.max_bytes = 2 * 1024 * 1024
    stub.Ingest(
        pb.IngestRequest(events=[event(f"s{i}", ("cookie", f"{i:04d}".ljust(1024, "y"))) for i in range(999)])
    )
    assert cache.bytes <= cache.max_bytes


# -- 6. erased activity stays erased ----------------------------------------------------------


def test_an_erased_person_s_events_stay_erased_when_replayed(server: RunningServer, channel, settings):
    stub = IDENTITY(channel)
    t1 = event("t1", ("cookie", "tablet-1"), ("customer_id", "A-1"), type="login", seconds=T0)
    t2 = event(
        "t2",
        ("cookie", "tablet-1"),
        type="product_view",
        seconds=T0 + 1,
        product=ev_pb.Product(sku="sku-secret"),
    )
    t3 = event("t3", ("cookie", "tablet-1"), ("customer_id", "B-2"), type="login", seconds=T0 + 2)
    for e in (t1, t2, t3):
        stub.Ingest(pb.IngestRequest(events=[e]))
    key = profile_pb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value="A-1"))
    privacy_pb_grpc.PrivacyServiceStub(channel).Erase(privacy_pb.EraseRequest(subject=key, request_id="er-1"))
    results = stub.Ingest(pb.IngestRequest(events=[t1, t2, t3])).results
    assert [r.outcome for r in results[:2]] == [pb.OUTCOME_SUPPRESSED] * 2
    server.stop(0)
    blob = b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    assert b"sku-secret" not in blob


# -- 8. the CLI on bad input ------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_cli_stops_at_a_bad_line_with_its_number(server: RunningServer, settings, tmp_path: Path):
    env = {**os.environ, "IDSTITCH_KEY_FILE": str(settings.data_dir / "admin.key")}
    target = f"127.0.0.1:{server.port}"
    good = (
        '{"eventId":"a1","channel":"web","type":"page_view","identifiers":[{"type":"cookie","value":"c1"}]}'
    )
    for second, what in (("not json", "not an idstitch.v1.Event"), ('{"eventId":"a2","bogus":1}', "bogus")):
        path = tmp_path / "events.jsonl"
        path.write_text(f"{good}\n{second}\n")
        started = time.monotonic()
        done = _cli("ingest", str(path), "--target", target, env=env)
        assert done.returncode == 2 and f"{path}:2:" in done.stderr and what in done.stderr, done.stderr
        assert time.monotonic() - started < 30
    missing = _cli("ingest", str(tmp_path / "nope.jsonl"), "--target", target, env=env)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "UNKNOWN" not in missing.stderr


# -- 9, 10. one server per data directory and port; owner-only files --------------------------


def test_a_second_server_on_the_same_data_directory_or_port_is_refused(
    server: RunningServer, settings, tmp_path
):
    with pytest.raises(Exception, match=r"in use by another idstitch process \(pid \d+\)"):
        create_server(settings)
    other = load_settings(data_dir=tmp_path / "other", port=server.port)
    with pytest.raises(OSError, match="cannot bind"):
        create_server(other)


def test_data_files_are_owner_only(server: RunningServer, channel, settings):
    IDENTITY(channel).Ingest(pb.IngestRequest(events=[event("o1", ("cookie", "c"))]))
    files = [p for p in settings.data_dir.iterdir() if p.is_file()]
    assert {"graph.db", "profiles.db", "privacy.db"} <= {p.name for p in files}
    for p in files:
        assert p.stat().st_mode & 0o077 == 0, p.name
    assert settings.data_dir.stat().st_mode & 0o077 == 0


def test_a_client_cancelling_a_stream_is_not_a_server_error(channel, caplog):
    import threading

    sent = threading.Event()

    def chunks():
        yield pb.IngestStreamRequest(events=[event("c1", ("cookie", "c"))])
        sent.set()
        threading.Event().wait(5)  # the client goes quiet; then it cancels
        yield pb.IngestStreamRequest(events=[event("c2", ("cookie", "c"))])

    with caplog.at_level(logging.DEBUG, logger="idstitch.server"):
        call = IDENTITY(channel).IngestStream.future(chunks())
        sent.wait(5)
        time.sleep(0.3)
        call.cancel()
        time.sleep(0.5)
    assert call.cancelled()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]


def test_a_referrer_that_is_no_url_is_accepted_and_counted_as_no_host(channel):
    """urlsplit raises on "http://[": once a fold failure that failed every retry of its batch."""
    stub = IDENTITY(channel)
    for n, ref in enumerate(("http://[", "//[::1", "http://a:b@[x]:99/")):
        e = event(
            f"ref-{n}", ("customer_id", "R-1"), type="product_view", context=ev_pb.Context(referrer=ref)
        )
        assert stub.Ingest(pb.IngestRequest(events=[e])).results[0].outcome != pb.OUTCOME_UNSPECIFIED
    key = profile_pb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value="R-1"))
    got = profile_pb_grpc.ProfileServiceStub(channel).GetProfile(profile_pb.GetProfileRequest(key=key))
    assert got.profile.context.events == 3 and not got.profile.context.referrers
