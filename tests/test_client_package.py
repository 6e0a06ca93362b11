"""The idstitch-client distribution (client/): its typed client against a real server, its retries,
and that it stands alone (grpcio and protobuf, nothing of the server's)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import grpc
import pytest

from idstitch.client import Client, event
from idstitch.v1 import identity_service_pb2 as pb
from server.app import RunningServer, create_server
from server.config import Settings, load_settings

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.e2e


def client_for(server_port: int, settings: Settings, **kw: object) -> Client:
    key = (settings.data_dir / "admin.key").read_text().strip()
    return Client(f"127.0.0.1:{server_port}", key=key, **kw)  # type: ignore[arg-type]


def test_ingest_resolve_and_profiles_through_the_typed_client(server, settings) -> None:
    events = [
        event("e1", "web", "login", [("customer_id", "C-1"), ("cookie", "k-1")]),
        event("e2", "web", "product_view", [("cookie", "k-1")]),
        event("e3", "app", "login", [("customer_id", "C-2"), ("device_id", "d-2")]),
    ]
    events[1].product.sku, events[1].product.category = "grill-1", "grills"
    with client_for(server.port, settings) as c:
        results = c.ingest(events)
        assert [r.event_id for r in results] == ["e1", "e2", "e3"]
        again = c.ingest(events)  # a resent batch is a no-op
        assert {r.outcome for r in again} == {pb.OUTCOME_DUPLICATE}
        person = c.resolve("cookie", "k-1").person.person_id
        assert person == results[0].person_id
        profile = c.get_profile(identifier=("customer_id", "C-1"), fields=["behavior"])
        assert profile.person_id == person
        assert [p.sku for p in profile.behavior.viewed_products] == ["grill-1"]
        assert not profile.HasField("context")  # only the fields asked for
        assert c.get_profile(person_id=person).person_id == person
        batch = c.batch_resolve([("customer_id", "C-1"), ("customer_id", "nobody"), ("customer_id", "C-2")])
        assert [r.found for r in batch] == [True, False, True]
        profiles = c.batch_get_profiles([("customer_id", "C-2"), person, ("email", "not an email")])
        assert [p.found for p in profiles] == [True, True, False]
        assert profiles[1].profile.person_id == person and profiles[2].reason == "invalid_email"


def test_a_batch_larger_than_the_servers_bound_is_sent_in_parts(server, settings) -> None:
    events = [event(f"e{i}", "web", "page_view", [("cookie", f"k{i % 7}")]) for i in range(1201)]
    with client_for(server.port, settings) as c:
        assert len(c.ingest(events)) == 1201
        assert len(c.batch_resolve([("cookie", f"k{i % 7}") for i in range(1201)])) == 1201


def test_every_call_has_a_deadline_and_an_event_without_id_is_refused(server, settings) -> None:
    # A peer that accepts the connection and never answers: only the call's deadline ends the call.
    # (A deadline of a microsecond against a real server raced a warm connection's answer.)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with (
            Client(f"127.0.0.1:{port}", key="k", timeout=0.3, retries=0) as c,
            pytest.raises(grpc.RpcError) as err,
        ):
            c.resolve("cookie", "k")
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
        assert time.monotonic() - started < 10
    with client_for(server.port, settings) as c, pytest.raises(ValueError, match="event_id"):
        c.ingest([event("", "web", "login", [("customer_id", "C-1")])])


def test_ingest_retries_while_the_server_is_away(tmp_path: Path) -> None:
    """The server restarts: the client's batch meets UNAVAILABLE and is sent again, with backoff,
    until the server answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(data_dir=tmp_path, port=port)
    create_server(settings).stop(0)  # the first start writes the admin key
    key = (tmp_path / "admin.key").read_text().strip()
    started: list[RunningServer] = []
    later = threading.Timer(0.5, lambda: started.append(create_server(settings)))
    later.start()
    try:
        with Client(f"127.0.0.1:{port}", key=key, retries=8, backoff=0.1) as c:
            t = time.monotonic()
            [r] = c.ingest([event("e1", "web", "login", [("customer_id", "C-1")])])
            assert r.person_id and time.monotonic() - t >= 0.4  # it waited for the server
    finally:
        later.join()
        for s in started:
            s.stop(0)


def test_unavailable_is_retried_then_raised(settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    t = time.monotonic()
    with (
        Client(f"127.0.0.1:{port}", key="k", retries=3, backoff=0.05) as c,
        pytest.raises(grpc.RpcError) as err,
    ):
        c.resolve("cookie", "k")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert time.monotonic() - t >= 0.05 * (1 + 2 + 4) * 0.5  # three backoffs were waited


def test_the_client_distribution_depends_on_grpc_and_protobuf_only() -> None:
    meta = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("=")[0] for d in meta["dependencies"]) == ["grpcio", "protobuf"]
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, idstitch.client; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT / "client",
    ).stdout.split()
    roots = {m.split(".")[0] for m in loaded}
    server_side = {"server", "common", "identity", "profiles", "privacy", "neo4j", "cassandra", "pydantic"}
    assert not roots & (server_side | {"opentelemetry", "yaml", "msgspec"})


def test_watch_yields_changes_and_resumes_across_a_restart_without_a_gap(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(data_dir=tmp_path, port=port)
    server = create_server(settings)
    key = (tmp_path / "admin.key").read_text().strip()
    try:
        with Client(f"127.0.0.1:{port}", key=key, retries=20, backoff=0.05) as c:
            c.ingest([event(f"e{i}", "web", "login", [("customer_id", f"C-{i}")]) for i in range(3)])
            feed = c.watch(cursor="0", kinds=["person_created"])
            first = [next(feed) for _ in range(3)]
            assert len({ch.person_id for ch in first}) == 3
            server.stop(0)  # the stream breaks; the client reopens it from the last cursor
            restarted: list[RunningServer] = []
            later = threading.Timer(0.5, lambda: restarted.append(create_server(settings)))
            later.start()
            later.join()
            server = restarted[0]
            [r] = c.ingest([event("e9", "web", "login", [("customer_id", "C-9")])])
            after = next(feed)
            assert after.person_id == r.person_id  # the next one, nothing again, nothing missed
            feed.close()
            idle = c.watch(cursor=after.cursor, kinds=["person_created"], idle_timeout=1.0)
            assert list(idle) == []  # nothing more: it ends
    finally:
        server.stop(0)


def test_the_typed_client_covers_the_api_with_typed_errors(server, settings) -> None:
    from idstitch.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

    with client_for(server.port, settings) as c:
        ann = [("customer_id", "C-7"), ("cookie", "k-7"), ("email", "g@x.example")]
        c.ingest(
            [event("t1", "web", "login", ann), event("t2", "app", "login", [ann[0], ("device_id", "d-7")])]
        )
        graph = c.graph(identifier=("customer_id", "C-7"))
        assert {n.type for n in graph.nodes} == {"customer_id", "cookie", "email", "device_id"}
        assert c.graph(person_id=graph.person_id).person_id == graph.person_id
        why = c.explain(("cookie", "k-7"), ("device_id", "d-7"))
        assert why.same_person and len(why.path) == 2
        applied = c.update_traits(
            "r-1", {"loyalty_tier": "gold"}, identifier=("customer_id", "C-7"), source="crm"
        )
        again = c.update_traits("r-1", {"loyalty_tier": "gold"}, person_id=graph.person_id, source="crm")
        assert applied.applied and not again.applied
        assert c.set_consent("c-1", "marketing_email", False, identifier=ann[0], source="web").person_id
        document = json.loads(c.export(identifier=("customer_id", "C-7")))
        assert document["format"] == "idstitch.export.v1"
        detached = c.detach(("device_id", "d-7"))
        assert detached.new_person_id and detached.person_id == graph.person_id
        with pytest.raises(FailedPrecondition):  # not retried: nothing is left to detach
            c.detach(("device_id", "d-7"))
        made = c.create_key("profile_reader")
        assert made.key_id in {k.key_id for k in c.list_keys()}
        receipt = c.erase("dsr-7", identifier=("customer_id", "C-7"))
        assert receipt.counts.identifiers == 3 and c.erasure(receipt.erasure_id).request_id == "dsr-7"
        assert c.erase("dsr-7", identifier=("customer_id", "C-7")).erasure_id == receipt.erasure_id
        with pytest.raises(NotFound) as missing:
            c.resolve("customer_id", "C-7")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # still a grpc.RpcError
        with pytest.raises(InvalidArgument, match="key_id"):
            c.revoke_key("not a key id")
        assert c.revoke_key(made.key_id) and not c.revoke_key(made.key_id)
        assert [r.operation for r in c.audit()][-1] == "revoke_key"
        reader_key = c.create_key("profile_reader")
    with (
        Client(f"127.0.0.1:{server.port}", key=reader_key.key) as r,
        pytest.raises(PermissionDenied, match="privacy"),
    ):
        r.erase("dsr-8", identifier=("customer_id", "C-1"))  # the error names the role it needs
